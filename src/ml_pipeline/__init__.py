"""Plain-Python task logic of the ml_pipeline DAG: importable and testable without Airflow running."""
