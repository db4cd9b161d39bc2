-- The Models view: a dataset's newest model versions, with the run that made each.
SELECT m.version, m.status, m.status_reason, m.test_accuracy, m.test_f1, m.test_roc_auc,
       e.run_date, e.dag_run_id, e.best_params, e.tuning, count(*) OVER () AS versions
FROM models m
JOIN experiments e USING (experiment_id)
WHERE m.dataset = %(dataset)s
ORDER BY m.version DESC
LIMIT %(limit)s;
