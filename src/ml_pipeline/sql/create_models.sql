-- The model registry: every saved model, which one is live (champion), and every promotion.

SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS models (
    version        bigint           GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id  bigint           NOT NULL UNIQUE REFERENCES experiments ON DELETE CASCADE,
    dataset        text             NOT NULL,
    path           text             NOT NULL,
    sha256         text             NOT NULL,
    created_at     timestamptz      NOT NULL DEFAULT now(),
    test_accuracy  double precision NOT NULL,
    test_f1        double precision NOT NULL,
    test_roc_auc   double precision NOT NULL,
    status         text             NOT NULL DEFAULT 'challenger'
                                    CHECK (status IN ('champion', 'challenger', 'archived')),
    status_reason  text
);

-- A database made before datasets were declared: its models were all breast cancer's.
ALTER TABLE models ADD COLUMN IF NOT EXISTS dataset text NOT NULL DEFAULT 'breast_cancer';
ALTER TABLE models ALTER COLUMN dataset DROP DEFAULT;

-- The classes a model predicts, in its dataset's declared order (what predictions.probabilities follow).
ALTER TABLE models ADD COLUMN IF NOT EXISTS classes text[];

-- At most one champion per dataset, whatever happens concurrently.
DROP INDEX IF EXISTS models_single_champion;
CREATE UNIQUE INDEX IF NOT EXISTS models_single_champion_per_dataset
    ON models (dataset) WHERE status = 'champion';

CREATE TABLE IF NOT EXISTS promotions (
    promotion_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    promoted_at    timestamptz NOT NULL DEFAULT now(),
    from_version   bigint      REFERENCES models (version) ON DELETE SET NULL,
    to_version     bigint      NOT NULL REFERENCES models (version) ON DELETE CASCADE,
    reason         text        NOT NULL
);
-- Who changed the champion by hand (the Airflow user on the Models page, the system user of
-- `make promote`); empty when a run promoted its own model.
ALTER TABLE promotions ADD COLUMN IF NOT EXISTS promoted_by text;
CREATE INDEX IF NOT EXISTS promotions_to_version_idx ON promotions (to_version);
CREATE INDEX IF NOT EXISTS models_dataset_version_idx ON models (dataset, version);

COMMENT ON TABLE models IS 'Every model ml_pipeline saved; status says which one is live (the champion of its dataset).';
COMMENT ON COLUMN models.path IS 'The model file, relative to the models folder; metadata.json beside it.';
COMMENT ON TABLE promotions IS 'Each change of champion: when, from which version to which, and why.';

-- Dropped and made again, so that a database from before datasets gets the dataset column first.
DROP VIEW IF EXISTS leaderboard, champion_history;

CREATE VIEW leaderboard AS
SELECT e.dataset, e.run_date, e.dag_run_id, e.best_params, round(e.cv_mean_score::numeric, 4) AS cv_accuracy,
       round(e.test_accuracy::numeric, 4) AS test_accuracy, round(e.test_roc_auc::numeric, 4) AS test_roc_auc,
       m.version AS model_version, m.status
FROM experiments e
LEFT JOIN models m ON m.experiment_id = e.experiment_id
ORDER BY e.dataset, e.run_date DESC, e.started_at DESC;

CREATE VIEW champion_history AS
SELECT m.dataset, p.promoted_at, p.from_version, p.to_version, p.reason, p.promoted_by, m.path, m.test_accuracy
FROM promotions p
JOIN models m ON m.version = p.to_version
ORDER BY m.dataset, p.promoted_at DESC, p.promotion_id DESC;
