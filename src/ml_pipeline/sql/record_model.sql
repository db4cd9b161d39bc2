UPDATE experiments
SET model_path = %(model_path)s, model_sha256 = %(model_sha256)s, model_saved_at = now()
WHERE dataset = %(dataset)s AND dag_run_id = %(dag_run_id)s
RETURNING experiment_id;
