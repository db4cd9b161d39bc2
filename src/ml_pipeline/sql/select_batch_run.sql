-- The run that stored a dataset's batch of a date (training_data.py).
SELECT dag_run_id FROM batches WHERE dataset = %(dataset)s AND batch_date = %(batch_date)s;
