-- A run's drift figures arrive as one JSON array: one round trip, whatever the number of features.
INSERT INTO drift (
    dataset, dag_run_id, run_date, champion_version, champion_date, kind, name, psi, threshold, drifted
)
SELECT %(dataset)s, %(dag_run_id)s, %(run_date)s, %(champion_version)s, %(champion_date)s, f.kind,
       f.name, f.psi, %(threshold)s, f.psi > %(threshold)s
FROM jsonb_to_recordset(%(figures)s::jsonb) AS f (kind text, name text, psi double precision);
