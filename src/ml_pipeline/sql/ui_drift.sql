-- A run's drift check: each feature's and the class balance's PSI against its threshold.
SELECT kind, name, psi, threshold, drifted, champion_version, champion_date
FROM drift
WHERE dataset = %(dataset)s AND dag_run_id = %(dag_run_id)s
ORDER BY kind DESC, psi DESC, name;
