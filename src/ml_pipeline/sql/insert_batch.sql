INSERT INTO batches (batch_date, dag_run_id, source, row_count, positive_count, data_sha256)
VALUES (%(batch_date)s, %(dag_run_id)s, %(source)s, %(row_count)s, %(positive_count)s, %(data_sha256)s);
