"""Refitting the winning pipeline on the whole batch and saving it with joblib."""

from __future__ import annotations

from pathlib import Path

import joblib
from sklearn.pipeline import Pipeline

from utils.db import sql
from utils.files import atomic_writer, sha256_of
from utils.handoff import Batch
from utils.tuning import C_PARAM, PCA_PARAM, build_pipeline


def refit(batch: Batch, best_params: dict) -> Pipeline:
    return build_pipeline(best_params[PCA_PARAM], best_params[C_PARAM]).fit(batch.features, batch.labels)


def save_model(model: Pipeline, path: Path) -> str:
    """Save ``model`` under ``path`` atomically; return the file's sha256."""
    with atomic_writer(path) as stream:
        joblib.dump(model, stream)
    return sha256_of(path)


class ModelIntegrityError(RuntimeError):
    """A model file is not the file that was saved."""


def load_model(path: Path, expected_sha256: str) -> Pipeline:
    """Load a saved model, but only if the file is byte for byte the one recorded when it was saved.

    joblib files are pickles, which run code when loaded: a file changed since it was saved is refused.
    """
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ModelIntegrityError(
            f"Refusing to load {path}: its sha256 is {actual}, but {expected_sha256} was recorded when "
            "it was saved. The file was changed or replaced; retrain (re-run the DAG for its date) "
            "or restore the original file."
        )
    return joblib.load(path)


def record_model(connection, dag_run_id: str, relative_path: Path, sha256: str) -> None:
    """Point the run's experiments row at its saved model (a path inside the models folder)."""
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(
            sql("record_model"),
            {"dag_run_id": dag_run_id, "model_path": str(relative_path), "model_sha256": sha256},
        )
        if cursor.fetchone() is None:
            raise LookupError(
                f"No experiments row for run {dag_run_id!r}: run the save_results task of this run first."
            )
