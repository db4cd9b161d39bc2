DELETE FROM cv_results WHERE experiment_id = %(experiment_id)s;
