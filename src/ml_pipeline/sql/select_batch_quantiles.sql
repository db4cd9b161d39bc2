-- The stored batches of a range of dates with their class counts and quantile sketches, a row per
-- feature (none for a batch stored before sketches were recorded).
SELECT b.batch_date, b.row_count, b.class_counts, q.feature, q.quantiles
FROM batches b
LEFT JOIN batch_quantiles q USING (dataset, batch_date)
WHERE b.dataset = %(dataset)s AND b.batch_date >= %(first_date)s AND b.batch_date < %(before_date)s
ORDER BY b.batch_date;
