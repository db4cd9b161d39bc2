"""Data in: where a day's batch comes from (``sources``), the strict reader of files and tables
(``batch_file``) and the batch rules (``validation``), the dataset's batch table in PostgreSQL
(``batch_store``), each batch's quantile sketches (``sketch``), and a declaration made from a sample file
(``declare``). Imports ``basics`` only."""
