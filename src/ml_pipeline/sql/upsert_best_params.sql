-- Copy the run's winner from its experiment row.
INSERT INTO best_params (
    experiment_id, dag_run_id, run_date, params, pca_n_components, c, cv_mean_score
)
SELECT experiment_id, dag_run_id, run_date, best_params,
       (best_params ->> 'pca__n_components')::integer,
       (best_params ->> 'classifier__C')::double precision,
       cv_mean_score
FROM experiments
WHERE dataset = %(dataset)s AND dag_run_id = %(dag_run_id)s
ON CONFLICT (experiment_id) DO UPDATE SET
    params = EXCLUDED.params,
    pca_n_components = EXCLUDED.pca_n_components,
    c = EXCLUDED.c,
    cv_mean_score = EXCLUDED.cv_mean_score,
    stored_at = now()
RETURNING experiment_id;
