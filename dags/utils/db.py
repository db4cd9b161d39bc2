"""The pipeline database: its SQL files, run on a psycopg (3) connection."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"

# In dependency order: later tables reference earlier ones.
SCHEMA_FILES = (
    "create_batch_tables",
    "create_experiments",
    "create_cv_results",
    "create_best_params",
    "create_models",
)


@cache
def sql(name: str) -> str:
    """The text of ``dags/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()


def create_tables(connection) -> None:
    """Apply every schema file, as the DAG's create-table tasks do."""
    with connection.transaction(), connection.cursor() as cursor:
        for name in SCHEMA_FILES:
            cursor.execute(sql(name))
