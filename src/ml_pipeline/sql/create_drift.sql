-- Each run's drift check: today's batch against the data the champion was trained on, one row per
-- feature and one for the class balance, as a population stability index (drift.py). Re-running a run
-- replaces its rows.

SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS drift (
    dataset           text             NOT NULL,
    dag_run_id        text             NOT NULL,
    run_date          date             NOT NULL,
    champion_version  bigint,
    champion_date     date             NOT NULL,
    kind              text             NOT NULL CHECK (kind IN ('feature', 'class_balance')),
    name              text             NOT NULL,
    psi               double precision NOT NULL CHECK (psi >= 0),
    threshold         double precision NOT NULL CHECK (threshold > 0),
    drifted           boolean          NOT NULL,
    checked_at        timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, dag_run_id, kind, name)
);
-- A version alone no longer names a model (versions count per dataset).
ALTER TABLE drift DROP CONSTRAINT IF EXISTS drift_champion_version_fkey;
CREATE INDEX IF NOT EXISTS drift_dataset_run_date_idx ON drift (dataset, run_date);

COMMENT ON TABLE drift IS 'Per run, each feature''s and the class balance''s population stability index (PSI) between the day''s batch and the champion''s training data.';
COMMENT ON COLUMN drift.name IS 'The feature, or for kind class_balance the label column.';
COMMENT ON COLUMN drift.drifted IS 'psi > threshold: the run''s model was not promoted for it (unless forced).';
