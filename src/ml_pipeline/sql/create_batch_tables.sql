-- The daily batches: one row per batch date in `batches`, its rows in `batch_rows`.
-- Re-running a date replaces its batch. A batch and its rows are written, and deleted, together in one
-- transaction (utils/batch_store.py); batch_rows has no foreign key to batches because checking it
-- row by row more than doubled the time of a load.

-- Runs that start together would race on CREATE TABLE IF NOT EXISTS; take turns.
SELECT pg_advisory_xact_lock(hashtext('ml_pipeline.schema'));

CREATE TABLE IF NOT EXISTS batches (
    batch_date     date        PRIMARY KEY,
    dag_run_id     text        NOT NULL,
    source         text        NOT NULL,
    row_count      integer     NOT NULL CHECK (row_count > 0),
    positive_count integer     NOT NULL CHECK (positive_count BETWEEN 0 AND row_count),
    data_sha256    text        NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE batches IS 'One row per daily batch loaded by ml_pipeline; its rows are in batch_rows.';
COMMENT ON COLUMN batches.dag_run_id IS 'The Airflow run that loaded this batch last.';
COMMENT ON COLUMN batches.positive_count IS 'Rows with label 1 (benign, in the breast-cancer data).';

CREATE TABLE IF NOT EXISTS batch_rows (
    batch_date              date NOT NULL,
    row_id                  integer NOT NULL CHECK (row_id >= 0),
    mean_radius             double precision NOT NULL,
    mean_texture            double precision NOT NULL,
    mean_perimeter          double precision NOT NULL,
    mean_area               double precision NOT NULL,
    mean_smoothness         double precision NOT NULL,
    mean_compactness        double precision NOT NULL,
    mean_concavity          double precision NOT NULL,
    mean_concave_points     double precision NOT NULL,
    mean_symmetry           double precision NOT NULL,
    mean_fractal_dimension  double precision NOT NULL,
    radius_error            double precision NOT NULL,
    texture_error           double precision NOT NULL,
    perimeter_error         double precision NOT NULL,
    area_error              double precision NOT NULL,
    smoothness_error        double precision NOT NULL,
    compactness_error       double precision NOT NULL,
    concavity_error         double precision NOT NULL,
    concave_points_error    double precision NOT NULL,
    symmetry_error          double precision NOT NULL,
    fractal_dimension_error double precision NOT NULL,
    worst_radius            double precision NOT NULL,
    worst_texture           double precision NOT NULL,
    worst_perimeter         double precision NOT NULL,
    worst_area              double precision NOT NULL,
    worst_smoothness        double precision NOT NULL,
    worst_compactness       double precision NOT NULL,
    worst_concavity         double precision NOT NULL,
    worst_concave_points    double precision NOT NULL,
    worst_symmetry          double precision NOT NULL,
    worst_fractal_dimension double precision NOT NULL,
    label                   smallint NOT NULL CHECK (label IN (0, 1)),
    PRIMARY KEY (batch_date, row_id)
);

COMMENT ON TABLE batch_rows IS 'The rows of each daily batch: 30 features and the 0/1 label.';
