-- The rows of the batches in a range of dates, in the binary COPY format and column order of
-- copy_batch_rows.sql (see utils/batch_store.py).
COPY (
    SELECT
    batch_date, row_id, mean_radius, mean_texture, mean_perimeter, mean_area, mean_smoothness,
    mean_compactness, mean_concavity, mean_concave_points, mean_symmetry,
    mean_fractal_dimension, radius_error, texture_error, perimeter_error, area_error,
    smoothness_error, compactness_error, concavity_error, concave_points_error, symmetry_error,
    fractal_dimension_error, worst_radius, worst_texture, worst_perimeter, worst_area,
    worst_smoothness, worst_compactness, worst_concavity, worst_concave_points, worst_symmetry,
    worst_fractal_dimension, label
    FROM batch_rows
    WHERE batch_date >= %(first_date)s AND batch_date < %(before_date)s
    ORDER BY batch_date, row_id
) TO STDOUT WITH (FORMAT binary);
