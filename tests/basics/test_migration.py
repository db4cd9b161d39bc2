"""A database written before datasets were declared keeps its history: its batches, experiments and
models become the breast_cancer dataset's when the current schema files are applied to it."""

import uuid
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb

from ml_pipeline.basics.db import create_tables
from ml_pipeline.data_in.batch_store import load_batches, replace_batch
from ml_pipeline.data_in.batch_table import create_batch_table
from ml_pipeline.registry.promotion import champion, promote_if_better, register_model
from samples import BREAST_CANCER, FEATURE_COLUMNS, ROOT, WINE, synthetic

BEFORE = ROOT / "tests" / "fixtures" / "schema_before_datasets.sql"
DAY = date(2026, 3, 1)


@pytest.fixture
def old_database(postgres_server, cancer):
    """A copy of the earlier schema with a day of history: a batch, an experiment, a champion."""
    name = "before_" + uuid.uuid4().hex[:12]
    postgres_server.psql(f'CREATE DATABASE "{name}";')
    host = parse_qs(urlparse(postgres_server.get_uri()).query)["host"][0]
    connection = psycopg.connect(host=host, user="postgres", dbname=name, autocommit=True)
    connection.execute(BEFORE.read_text())
    connection.execute(
        "INSERT INTO batches (batch_date, dag_run_id, source, row_count, positive_count, data_sha256) "
        "VALUES (%s, 'scheduled__2026-03-01', 'breast_cancer', 569, 357, %s)",
        (DAY, cancer.sha256()),
    )
    columns = ", ".join(["batch_date", "row_id", *FEATURE_COLUMNS, "label"])
    with connection.cursor().copy(f"COPY batch_rows ({columns}) FROM STDIN") as copy:
        for row_id, (features, label) in enumerate(zip(cancer.features, cancer.labels, strict=True)):
            copy.write_row([DAY, row_id, *features.tolist(), int(label)])
    experiment = connection.execute(
        "INSERT INTO experiments (dag_run_id, run_date, source, data_sha256, started_at, finished_at, "
        "cv_folds, param_grid, settings, best_params, cv_mean_score, cv_std_score, test_accuracy, "
        "test_precision, test_recall, test_f1, test_roc_auc, train_rows, test_rows) VALUES "
        "('scheduled__2026-03-01', %s, 'breast_cancer', 'sha', now(), now(), 5, %s, %s, %s, 0.97, 0.01, "
        "0.96, 0.95, 0.97, 0.96, 0.99, 455, 114) RETURNING experiment_id",
        (DAY, Jsonb({}), Jsonb({"source": "breast_cancer"}), Jsonb({"pca__n_components": 9})),
    ).fetchone()[0]
    connection.execute(
        "INSERT INTO best_params (experiment_id, dag_run_id, run_date, params, pca_n_components, c, "
        "cv_mean_score) VALUES (%s, 'scheduled__2026-03-01', %s, %s, 9, 1.0, 0.97)",
        (experiment, DAY, Jsonb({})),
    )
    connection.execute(
        "INSERT INTO models (experiment_id, path, sha256, test_accuracy, test_f1, test_roc_auc, status) "
        "VALUES (%s, '2026-03-01/model.joblib', 'f', 0.96, 0.96, 0.99, 'champion')",
        (experiment,),
    )
    connection.execute(
        "INSERT INTO promotions (to_version, reason) SELECT version, 'the first model' FROM models"
    )
    # A table of a later schema that named a model by its version alone.
    connection.execute(
        "CREATE TABLE predictions (dataset text NOT NULL, score_date date NOT NULL, row_key text NOT NULL, "
        "predicted_class text NOT NULL, probabilities double precision[] NOT NULL, "
        "model_version bigint NOT NULL REFERENCES models (version), scored_at timestamptz NOT NULL "
        "DEFAULT now(), PRIMARY KEY (dataset, score_date, row_key))"
    )
    connection.close()
    connection = psycopg.connect(host=host, user="postgres", dbname=name)
    yield connection
    connection.close()


def test_the_earlier_history_becomes_breast_cancers(old_database, cancer):
    db = old_database
    for _ in range(2):  # a second pass changes nothing: the schema files run before every run
        create_tables(db)
        create_batch_table(db, BREAST_CANCER)
    assert db.execute("SELECT dataset, row_count, class_counts FROM batches").fetchall() == [
        ("breast_cancer", 569, {"0": 212, "1": 357})
    ]
    stored = load_batches(db, BREAST_CANCER, DAY, date(2026, 3, 2))
    assert stored.features.tobytes() == np.asarray(cancer.features, dtype=np.float64).tobytes()
    np.testing.assert_array_equal(stored.labels, cancer.labels)
    assert db.execute("SELECT dataset, dag_run_id FROM experiments").fetchall() == [
        ("breast_cancer", "scheduled__2026-03-01")
    ]
    assert champion(db, "breast_cancer")["path"] == "2026-03-01/model.joblib"
    assert db.execute("SELECT dataset, status FROM leaderboard").fetchall() == [("breast_cancer", "champion")]


def test_after_the_migration_another_dataset_lives_beside_it(old_database):
    db = old_database
    create_tables(db)
    create_batch_table(db, WINE)
    wine = synthetic(300, 1, WINE)
    assert replace_batch(db, WINE, wine, DAY, "scheduled__2026-03-01", "synthetic") == 300
    replace_batch(db, WINE, wine.take(np.arange(200)), DAY, "scheduled__2026-03-01", "synthetic")
    assert db.execute("SELECT dataset, row_count FROM batches ORDER BY dataset").fetchall() == [
        ("breast_cancer", 569),
        ("wine", 200),
    ]
    assert db.execute("SELECT count(*) FROM batch_rows").fetchone() == (569,)
    # The same run id in the wine DAG is its own experiment, and wine gets its own champion.
    with db.transaction():
        experiment = db.execute(
            "INSERT INTO experiments (dag_run_id, dataset, run_date, source, data_sha256, started_at, "
            "finished_at, cv_folds, param_grid, settings, best_params, cv_mean_score, cv_std_score, "
            "test_accuracy, test_precision, test_recall, test_f1, test_roc_auc, train_rows, test_rows) "
            "SELECT dag_run_id, 'wine', run_date, source, data_sha256, started_at, finished_at, cv_folds, "
            "param_grid, settings, best_params, cv_mean_score, cv_std_score, test_accuracy, "
            "test_precision, test_recall, test_f1, test_roc_auc, train_rows, test_rows FROM experiments "
            "RETURNING experiment_id"
        ).fetchone()[0]
        version = db.execute(
            "INSERT INTO models (version, experiment_id, dataset, path, sha256, test_accuracy, test_f1, "
            "test_roc_auc) VALUES (1, %s, 'wine', 'wine/2026-03-01/model.joblib', 'f', 0.9, 0.9, 0.9) "
            "RETURNING version",
            (experiment,),
        ).fetchone()[0]
    decision = promote_if_better(db, "wine", version, 0.0)
    assert decision.promoted and "first model of wine" in decision.reason
    assert champion(db, "breast_cancer")["path"] == "2026-03-01/model.joblib"
    assert champion(db, "wine")["version"] == version


def test_after_the_migration_versions_count_per_dataset(old_database):
    db = old_database
    create_tables(db)
    create_tables(db)
    copy_run = (
        "INSERT INTO experiments (dag_run_id, dataset, run_date, source, data_sha256, started_at, "
        "finished_at, cv_folds, param_grid, settings, best_params, cv_mean_score, cv_std_score, "
        "test_accuracy, test_precision, test_recall, test_f1, test_roc_auc, train_rows, test_rows) "
        "SELECT %s, %s, run_date + 1, source, data_sha256, started_at, finished_at, cv_folds, param_grid, "
        "settings, best_params, cv_mean_score, cv_std_score, test_accuracy, test_precision, test_recall, "
        "test_f1, test_roc_auc, train_rows, test_rows FROM experiments "
        "WHERE dag_run_id = 'scheduled__2026-03-01'"
    )
    registered = {}
    for dataset, run_id in (("breast_cancer", "scheduled__2026-03-02"), ("wine", "scheduled__2026-03-02")):
        db.execute(copy_run, (run_id, dataset))
        registered[dataset] = register_model(
            db, dataset, run_id, Path(f"{dataset}/m.joblib"), "e" * 64, (0, 1)
        )
    assert registered == {"breast_cancer": 2, "wine": 1}, "the earlier model keeps its number 1"
    assert promote_if_better(db, "wine", 1, 0.0).promoted
    assert promote_if_better(db, "breast_cancer", 2, 0.0, force=True).promoted
    history = "SELECT dataset, from_version, to_version FROM champion_history ORDER BY 1, promoted_at"
    assert db.execute(history).fetchall() == [
        ("breast_cancer", None, 1),  # the promotion made before the migration keeps its dataset
        ("breast_cancer", 1, 2),
        ("wine", None, 1),
    ]
    assert db.execute("SELECT dataset, version, status FROM models ORDER BY 1, 2").fetchall() == [
        ("breast_cancer", 1, "archived"),
        ("breast_cancer", 2, "champion"),
        ("wine", 1, "champion"),
    ]
