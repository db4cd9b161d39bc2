-- How many rows copy_batch_window.sql returns for the same dates, as the batches table records them
-- (written in the same transaction as the rows): no scan of the rows themselves.
SELECT coalesce(sum(row_count), 0)::bigint
FROM batches
WHERE dataset = %(dataset)s AND batch_date >= %(first_date)s AND batch_date < %(before_date)s;
