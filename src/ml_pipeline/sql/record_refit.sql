-- A re-run's new model file: the run's experiments row and registered model, if it has them yet,
-- take its sha256, so the registry never points at a file it would refuse to load.
WITH experiment AS (
    UPDATE experiments
    SET model_sha256 = %(model_sha256)s, model_saved_at = now()
    WHERE dataset = %(dataset)s AND dag_run_id = %(dag_run_id)s AND model_path = %(model_path)s
    RETURNING experiment_id
)
UPDATE models
SET sha256 = %(model_sha256)s
FROM experiment
WHERE models.experiment_id = experiment.experiment_id AND models.path = %(model_path)s;
