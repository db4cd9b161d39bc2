INSERT INTO batches (dataset, batch_date, dag_run_id, source, row_count, class_counts, data_sha256)
VALUES (%(dataset)s, %(batch_date)s, %(dag_run_id)s, %(source)s, %(row_count)s, %(class_counts)s, %(data_sha256)s);
