-- Which dataset a model version belongs to, before the Models view promotes it.
SELECT dataset FROM models WHERE version = %(version)s;
