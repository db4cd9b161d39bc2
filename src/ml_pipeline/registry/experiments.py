"""Recording a run's search in the experiment tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from psycopg.types.json import Jsonb

from ml_pipeline.basics.db import sql
from ml_pipeline.training.tuning_report import TuningReport


@dataclass(frozen=True)
class RunRecord:
    """What identifies a run's experiment row, besides the tuning report."""

    dag_run_id: str
    dataset: str
    run_date: date
    source: str
    data_sha256: str
    settings: dict


def save_experiment(connection, record: RunRecord, report: TuningReport, curves: dict | None = None) -> int:
    """Write the run's experiments row, with the winner's ROC curves and confusion matrix on the test
    split (``plots.held_out_curves``), and all its cv_results rows in one transaction.

    Re-running the same DAG run replaces both, so a run never has two experiments or stale candidates.
    """
    metrics = report.test_metrics
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(
            sql("upsert_experiment"),
            {
                "dag_run_id": record.dag_run_id,
                "dataset": record.dataset,
                "run_date": record.run_date,
                "source": record.source,
                "data_sha256": record.data_sha256,
                "started_at": datetime.fromisoformat(report.started_at),
                "finished_at": datetime.fromisoformat(report.finished_at),
                "cv_folds": report.cv_folds,
                "param_grid": Jsonb(report.param_grid),
                "settings": Jsonb(record.settings),
                "best_params": Jsonb(report.best_params),
                "cv_mean_score": report.cv_mean_score,
                "cv_std_score": report.cv_std_score,
                "test_accuracy": metrics["accuracy"],
                "test_precision": metrics["precision"],
                "test_recall": metrics["recall"],
                "test_f1": metrics["f1"],
                "test_roc_auc": metrics["roc_auc"],
                "train_rows": report.train_rows,
                "test_rows": report.test_rows,
                "tuning": report.tuning,
                "params_from_version": report.params_from_version,
                "test_curves": curves and Jsonb(curves),
            },
        )
        experiment_id = cursor.fetchone()[0]
        cursor.execute(sql("delete_cv_results"), {"experiment_id": experiment_id})
        cursor.execute(
            sql("insert_cv_results"),
            {"experiment_id": experiment_id, "candidates": json.dumps(report.candidates)},
        )
    return experiment_id


def for_run(connection, statement: str, dataset: str, dag_run_id: str, **values) -> tuple:
    """Run ``statement`` (the name of a .sql file) on the run's experiment row; return its first
    result row. A run with no experiment row yet is told what to do."""
    with connection.transaction(), connection.cursor() as cursor:
        params = {"dataset": dataset, "dag_run_id": dag_run_id, **values}
        row = cursor.execute(sql(statement), params).fetchone()
    if row is None:
        raise LookupError(
            f"No experiments row for run {dag_run_id!r} of dataset {dataset}: run the save_results "
            "task of this run first."
        )
    return row


def save_best_params(connection, dataset: str, dag_run_id: str) -> int:
    """Copy the run's winning parameters into best_params; return the experiment id."""
    return for_run(connection, "upsert_best_params", dataset, dag_run_id)[0]


def record_model_file(connection, dataset: str, dag_run_id: str, relative_path: Path, sha256: str) -> None:
    """Point the run's experiments row at its saved model (a path inside the models folder)."""
    for_run(
        connection, "record_model", dataset, dag_run_id, model_path=str(relative_path), model_sha256=sha256
    )


def record_refit(connection, dataset: str, dag_run_id: str, relative_path: Path, sha256: str) -> None:
    """A model file saved again for a run already recorded (a cleared refit): its rows follow the file.
    A first run has no rows yet and nothing changes; promote_model records the file then."""
    with connection.transaction():
        connection.execute(
            sql("record_refit"),
            {
                "dataset": dataset,
                "dag_run_id": dag_run_id,
                "model_path": str(relative_path),
                "model_sha256": sha256,
            },
        )
