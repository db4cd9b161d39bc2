-- The dates of a dataset's stored batches in a range, with their rows and fingerprints, in the order
-- copy_batch_window.sql returns the rows (judging.py tells from it which day each row of a window is of;
-- the hand-off names each day's file by its fingerprint).
SELECT batch_date, row_count, data_sha256
FROM batches
WHERE dataset = %(dataset)s AND batch_date >= %(first_date)s AND batch_date < %(before_date)s
ORDER BY batch_date;
