-- One row per DAG run: what was searched, what won, and how it scored.
-- A re-run of the same DAG run updates its row (a run id is unique within a dataset: each dataset
-- has its own DAG, whose scheduled runs have the same ids as the other DAGs').

SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS experiments (
    experiment_id   bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dag_run_id      text             NOT NULL,
    dataset         text             NOT NULL,
    run_date        date             NOT NULL,
    source          text             NOT NULL,
    data_sha256     text             NOT NULL,
    started_at      timestamptz      NOT NULL,
    finished_at     timestamptz      NOT NULL CHECK (finished_at >= started_at),
    cv_folds        integer          NOT NULL CHECK (cv_folds >= 2),
    param_grid      jsonb            NOT NULL,
    settings        jsonb            NOT NULL,
    best_params     jsonb            NOT NULL,
    cv_mean_score   double precision NOT NULL CHECK (cv_mean_score BETWEEN 0 AND 1),
    cv_std_score    double precision NOT NULL CHECK (cv_std_score >= 0),
    test_accuracy   double precision NOT NULL CHECK (test_accuracy BETWEEN 0 AND 1),
    test_precision  double precision NOT NULL CHECK (test_precision BETWEEN 0 AND 1),
    test_recall     double precision NOT NULL CHECK (test_recall BETWEEN 0 AND 1),
    test_f1         double precision NOT NULL CHECK (test_f1 BETWEEN 0 AND 1),
    test_roc_auc    double precision NOT NULL CHECK (test_roc_auc BETWEEN 0 AND 1),
    train_rows      integer          NOT NULL CHECK (train_rows > 0),
    test_rows       integer          NOT NULL CHECK (test_rows > 0),
    model_path      text,
    model_sha256    text,
    model_saved_at  timestamptz,
    recorded_at     timestamptz      NOT NULL DEFAULT now()
);

-- A database made before datasets were declared: its experiments were all on breast cancer.
ALTER TABLE experiments ADD COLUMN IF NOT EXISTS dataset text NOT NULL DEFAULT 'breast_cancer';
ALTER TABLE experiments ALTER COLUMN dataset DROP DEFAULT;

ALTER TABLE experiments DROP CONSTRAINT IF EXISTS experiments_dag_run_id_key;
CREATE UNIQUE INDEX IF NOT EXISTS experiments_dataset_dag_run_id_key ON experiments (dataset, dag_run_id);
DROP INDEX IF EXISTS experiments_run_date_idx;

-- Tuning modes: a run either searched the grid, or reused the champion's parameters (no CV scores).
ALTER TABLE experiments ADD COLUMN IF NOT EXISTS tuning text NOT NULL DEFAULT 'grid'
    CHECK (tuning IN ('grid', 'reuse'));
ALTER TABLE experiments ADD COLUMN IF NOT EXISTS params_from_version bigint;
ALTER TABLE experiments ALTER COLUMN cv_mean_score DROP NOT NULL;
ALTER TABLE experiments ALTER COLUMN cv_std_score DROP NOT NULL;
CREATE INDEX IF NOT EXISTS experiments_dataset_run_date_idx ON experiments (dataset, run_date);

-- What the Experiment view draws of the winner on the test split, from the database alone (the files
-- of a run may be on another worker's disk).
ALTER TABLE experiments ADD COLUMN IF NOT EXISTS test_curves jsonb;

COMMENT ON TABLE experiments IS 'One row per ml_pipeline run: the search, its winner and the winner''s test scores.';
COMMENT ON COLUMN experiments.dataset IS 'The dataset trained on: its declaration is datasets/<dataset>.toml.';
COMMENT ON COLUMN experiments.started_at IS 'When the cross-validation of this run started.';
COMMENT ON COLUMN experiments.finished_at IS 'When the cross-validation and the test evaluation ended.';
COMMENT ON COLUMN experiments.param_grid IS 'The grid searched: {"pca__n_components": [...], "classifier__C": [...]}.';
COMMENT ON COLUMN experiments.settings IS 'Every setting the run used (defaults, environment and Trigger-form params).';
COMMENT ON COLUMN experiments.test_precision IS 'Precision, recall and F1 are macro averages over the classes when there are more than two.';
COMMENT ON COLUMN experiments.cv_mean_score IS 'Mean accuracy of the best candidate over the CV folds (empty when tuning is reuse).';
COMMENT ON COLUMN experiments.tuning IS 'grid: the grid was searched by CV; reuse: the champion''s parameters (params_from_version) were refit, without CV.';
COMMENT ON COLUMN experiments.test_curves IS 'The winner on the test split: {"rows": n, "roc": [{"name", "fpr", "tpr", "auc"}], "confusion": [[...]]} (rows: true class, columns: predicted).';
COMMENT ON COLUMN experiments.model_path IS 'The final model (refit on the whole batch), relative to the models folder; empty until saved.';
