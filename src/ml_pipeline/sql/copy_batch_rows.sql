-- Rows arrive in PostgreSQL's binary COPY format, in this column order (see batch_store.py).
COPY {table} ({columns}) FROM STDIN WITH (FORMAT binary);
