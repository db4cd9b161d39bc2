-- The daily batches of every dataset: one row per dataset and batch date. The rows themselves are in
-- the dataset's own table (create_batch_rows.sql), written and deleted with this row in one
-- transaction (batch_store.py). Re-running a date replaces its batch.

-- Runs that start together would race on CREATE TABLE IF NOT EXISTS; take turns.
SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS batches (
    dataset        text        NOT NULL,
    batch_date     date        NOT NULL,
    dag_run_id     text        NOT NULL,
    source         text        NOT NULL,
    row_count      integer     NOT NULL CHECK (row_count > 0),
    class_counts   jsonb       NOT NULL,
    data_sha256    text        NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, batch_date)
);

-- A database made before datasets were declared: its batches were all breast cancer's, with a count
-- of label 1 where class_counts now says how many rows each class has.
ALTER TABLE batches ADD COLUMN IF NOT EXISTS dataset text NOT NULL DEFAULT 'breast_cancer';
ALTER TABLE batches ALTER COLUMN dataset DROP DEFAULT;
ALTER TABLE batches ADD COLUMN IF NOT EXISTS class_counts jsonb;
DO $$
BEGIN
    IF EXISTS (SELECT FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'batches'
                 AND column_name = 'positive_count') THEN
        UPDATE batches
        SET class_counts = jsonb_build_object('0', row_count - positive_count, '1', positive_count);
        ALTER TABLE batches DROP COLUMN positive_count;
        ALTER TABLE batches DROP CONSTRAINT batches_pkey;
        ALTER TABLE batches ADD PRIMARY KEY (dataset, batch_date);
    END IF;
END $$;
ALTER TABLE batches ALTER COLUMN class_counts SET NOT NULL;

-- Each batch's features as quantile sketches (sketch.py), written and deleted with the batch: what the
-- drift check reads instead of the rows.
CREATE TABLE IF NOT EXISTS batch_quantiles (
    dataset     text               NOT NULL,
    batch_date  date               NOT NULL,
    feature     text               NOT NULL,
    quantiles   double precision[] NOT NULL,
    PRIMARY KEY (dataset, batch_date, feature),
    FOREIGN KEY (dataset, batch_date) REFERENCES batches (dataset, batch_date) ON DELETE CASCADE
);

COMMENT ON TABLE batches IS 'One row per daily batch loaded by ml_pipeline; its rows are in the dataset''s table.';
COMMENT ON COLUMN batches.dag_run_id IS 'The Airflow run that loaded this batch last.';
COMMENT ON COLUMN batches.class_counts IS 'Rows per class label, e.g. {"0": 212, "1": 357}.';
COMMENT ON TABLE batch_quantiles IS 'Per batch and feature, its quantiles at 0, 0.001, ..., 1: the batch''s distribution, which the drift check compares.';
