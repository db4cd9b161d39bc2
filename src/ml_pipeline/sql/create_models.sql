-- The model registry: every saved model, which one is live (champion), and every promotion.

SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS models (
    version        bigint           NOT NULL,
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
    status_reason  text,
    PRIMARY KEY (dataset, version)
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
    dataset        text,
    from_version   bigint,
    to_version     bigint      NOT NULL,
    reason         text        NOT NULL
);
-- Who changed the champion by hand (the Airflow user on the Models page, the system user of
-- `make promote`); empty when a run promoted its own model.
ALTER TABLE promotions ADD COLUMN IF NOT EXISTS promoted_by text;
ALTER TABLE promotions ADD COLUMN IF NOT EXISTS dataset text;

-- Versions count per dataset, from 1. A database from before numbered the models of every dataset in
-- one sequence: its versions are kept (they stay unique within each dataset), and each dataset counts on
-- from its highest.
DO $$
DECLARE
    reference record;
BEGIN
    IF (SELECT array_agg(a.attname::text ORDER BY a.attname)
        FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = 'models'::regclass AND i.indisprimary) <> ARRAY['dataset', 'version'] THEN
        -- Every foreign key on the version alone (promotions, drift, and those of older schemas).
        FOR reference IN
            SELECT conrelid::regclass AS referring, conname FROM pg_constraint
            WHERE confrelid = 'models'::regclass AND contype = 'f'
        LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', reference.referring, reference.conname);
        END LOOP;
        UPDATE promotions p SET dataset = m.dataset FROM models m WHERE m.version = p.to_version;
        ALTER TABLE models ALTER COLUMN version DROP IDENTITY IF EXISTS;
        ALTER TABLE models DROP CONSTRAINT models_pkey;
        ALTER TABLE models ADD PRIMARY KEY (dataset, version);
    END IF;
END $$;
ALTER TABLE promotions ALTER COLUMN dataset SET NOT NULL;
DO $$
BEGIN
    ALTER TABLE promotions ADD CONSTRAINT promotions_to_model_fkey
        FOREIGN KEY (dataset, to_version) REFERENCES models (dataset, version) ON DELETE CASCADE;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
DROP INDEX IF EXISTS promotions_to_version_idx;
DROP INDEX IF EXISTS models_dataset_version_idx;  -- the primary key now
CREATE INDEX IF NOT EXISTS promotions_to_model_idx ON promotions (dataset, to_version);

COMMENT ON TABLE models IS 'Every model ml_pipeline saved; status says which one is live (the champion of its dataset).';
COMMENT ON COLUMN models.path IS 'The model file, relative to the models folder; metadata.json beside it.';
COMMENT ON TABLE promotions IS 'Each change of a dataset''s champion: when, from which version to which, and why.';
COMMENT ON COLUMN models.version IS 'The model''s number within its dataset: 1, 2, ... in the order they were registered.';

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
JOIN models m ON m.dataset = p.dataset AND m.version = p.to_version
ORDER BY m.dataset, p.promoted_at DESC, p.promotion_id DESC;

-- Each saved model file's bytes and metadata, by sha256: what the scoring service loads, on a machine
-- that shares no disk with the workers.
CREATE TABLE IF NOT EXISTS model_files (
    sha256     text        PRIMARY KEY,
    model      bytea       NOT NULL,
    metadata   jsonb       NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE model_files IS 'Each model file (joblib) with its metadata.json, by sha256: the scoring service loads models from here.';
