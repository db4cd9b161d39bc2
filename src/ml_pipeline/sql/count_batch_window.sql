-- How many rows copy_batch_window.sql returns for the same dates.
SELECT count(*) FROM {table} WHERE batch_date >= %(first_date)s AND batch_date < %(before_date)s;
