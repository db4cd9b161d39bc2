-- One row per candidate of each run's grid search, like scikit-learn's cv_results_.

SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS cv_results (
    experiment_id     bigint           NOT NULL REFERENCES experiments ON DELETE CASCADE,
    candidate         integer          NOT NULL CHECK (candidate >= 0),
    params            jsonb            NOT NULL,
    pca_n_components  integer          NOT NULL CHECK (pca_n_components >= 1),
    c                 double precision NOT NULL CHECK (c > 0),
    mean_test_score   double precision NOT NULL CHECK (mean_test_score BETWEEN 0 AND 1),
    std_test_score    double precision NOT NULL CHECK (std_test_score >= 0),
    rank_test_score   integer          NOT NULL CHECK (rank_test_score >= 1),
    PRIMARY KEY (experiment_id, candidate)
);

COMMENT ON TABLE cv_results IS 'Every candidate of every run''s grid search with its mean/std CV accuracy and rank (1 = best).';
