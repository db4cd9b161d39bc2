-- Drop the date's previous batch of the dataset and its rows.
WITH dropped_rows AS (DELETE FROM {table} WHERE batch_date = %(batch_date)s)
DELETE FROM batches WHERE dataset = %(dataset)s AND batch_date = %(batch_date)s;
