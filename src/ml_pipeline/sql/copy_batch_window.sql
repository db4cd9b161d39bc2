-- The rows of a dataset's batches in a range of dates, in binary COPY format: the features in the
-- declared order, then the label as the index of its class among the declared ones (see batch_store.py).
COPY (
    SELECT {features}, (array_position(%(classes)s, {label}) - 1)::smallint
    FROM {table}
    WHERE batch_date >= %(first_date)s AND batch_date < %(before_date)s
    ORDER BY batch_date, row_id
) TO STDOUT WITH (FORMAT binary);
