"""The pipeline database: its SQL files, run on a psycopg (3) connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"

# Each schema file (sql/create_<name>.sql) and the ones whose tables it references, in an order
# that applies them one after another.
SCHEMA: dict[str, tuple[str, ...]] = {
    "batches": (),
    "experiments": (),
    "cv_results": ("experiments",),
    "best_params": ("experiments",),
    "models": ("experiments",),
    "drift": ("models",),
    "predictions": ("models",),
}


@cache
def sql(name: str) -> str:
    """The text of ``ml_pipeline/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()


def create_tables(connection) -> None:
    """Apply every schema file, as the DAG's create-table tasks do."""
    with connection.transaction(), connection.cursor() as cursor:
        for name in SCHEMA:
            cursor.execute(sql(f"create_{name}"))


@contextmanager
def pipeline_connection(config) -> Iterator:
    """A psycopg connection to the pipeline database, through the configured Airflow connection."""
    import psycopg
    from airflow.exceptions import AirflowNotFoundException
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    try:
        connection = PostgresHook(postgres_conn_id=config.conn_id).get_conn()
    except AirflowNotFoundException:
        raise ConnectionError(
            f"The Airflow connection {config.conn_id!r} to the pipeline database is not defined: set "
            f"AIRFLOW_CONN_{config.conn_id.upper()}, or run the command on the stack (`make predict`, "
            "`make promote`; under compose, `docker compose exec airflow-scheduler python -m ml_pipeline`)."
        ) from None
    except psycopg.OperationalError as error:
        raise ConnectionError(
            f"Cannot reach the pipeline database through Airflow connection {config.conn_id!r}: "
            f"{' '.join(str(error).split())}. Start PostgreSQL (`make up`, or `docker compose up -d`), or "
            f"point AIRFLOW_CONN_{config.conn_id.upper()} at a reachable server, then try again."
        ) from error
    try:
        yield connection
    finally:
        connection.close()
