-- The columns of a table and their types, to compare with a dataset's declaration.
SELECT column_name, data_type
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = %(table)s
ORDER BY ordinal_position;
