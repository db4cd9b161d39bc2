-- The winning parameters of each run, ready to reuse.

SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS best_params (
    experiment_id     bigint           PRIMARY KEY REFERENCES experiments ON DELETE CASCADE,
    dag_run_id        text             NOT NULL,
    run_date          date             NOT NULL,
    params            jsonb            NOT NULL,
    pca_n_components  integer          NOT NULL CHECK (pca_n_components >= 1),
    c                 double precision NOT NULL CHECK (c > 0),
    cv_mean_score     double precision NOT NULL,
    stored_at         timestamptz      NOT NULL DEFAULT now()
);

-- A database made before datasets were declared: run ids are unique within a dataset only.
ALTER TABLE best_params DROP CONSTRAINT IF EXISTS best_params_dag_run_id_key;
-- A run that reused the champion's parameters has no CV score.
ALTER TABLE best_params ALTER COLUMN cv_mean_score DROP NOT NULL;

COMMENT ON TABLE best_params IS 'The best parameters found by each ml_pipeline run.';
