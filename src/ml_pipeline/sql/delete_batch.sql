-- Drop the date's previous batch and its rows.
WITH dropped_rows AS (DELETE FROM batch_rows WHERE batch_date = %(batch_date)s)
DELETE FROM batches WHERE batch_date = %(batch_date)s;
