-- The rows of one dataset's daily batches: its features as named columns, and its label.
-- Composed by batch_store.py from the dataset's declaration with psycopg.sql: the table's name, one
-- "name double precision NOT NULL" per feature, the label's name, type and classes.
SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS {table} (
    batch_date date    NOT NULL,
    row_id     integer NOT NULL CHECK (row_id >= 0),
    {features},
    {label}    {label_type} NOT NULL CHECK ({label} IN ({classes})),
    PRIMARY KEY (batch_date, row_id)
);
