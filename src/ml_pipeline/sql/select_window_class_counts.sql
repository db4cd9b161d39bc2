-- Rows per class over a dataset's batches in a range of dates (training_data.py).
SELECT class, sum(rows::integer)
FROM batches, jsonb_each_text(class_counts) AS counted(class, rows)
WHERE dataset = %(dataset)s AND batch_date >= %(first_date)s AND batch_date < %(before_date)s
GROUP BY class;
