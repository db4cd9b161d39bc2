"""Data in: where a day's batch comes from (``sources``: every kind yields an Arrow table), the one check
that turns any of them into a batch or named problems (``source_table`` and ``table_check``, with the
label and row rules in ``validation``), the strict CSV reader (``batch_file``), the dataset's batch table
in PostgreSQL (``batch_store``), each batch's quantile sketches (``sketch``), and a declaration made from
a sample file (``declare``). Imports ``basics`` only."""
