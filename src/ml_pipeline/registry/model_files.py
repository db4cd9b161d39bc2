"""The model file: the winning pipeline refit on the whole batch, saved with joblib beside its
metadata, and loaded only if it is the file that was saved."""

from __future__ import annotations

import hashlib
import io
import json
import platform
from pathlib import Path

import joblib
import numpy as np
import sklearn
from psycopg.types.json import Jsonb
from sklearn.pipeline import Pipeline

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.db import sql
from ml_pipeline.basics.files import atomic_writer, sha256_of, write_text_atomically
from ml_pipeline.training.final_fit import fit_in_blocks
from ml_pipeline.training.model import C_PARAM, PCA_PARAM


def refit(batch: Batch, best_params: dict) -> Pipeline:
    """The model with ``best_params`` fitted on ``batch``, a block of rows at a time (``final_fit``):
    the rows are read, never written, and held once."""
    return fit_in_blocks(batch.features, batch.labels, best_params[PCA_PARAM], best_params[C_PARAM])


def metadata_path(model_path: Path) -> Path:
    return model_path.with_suffix(".metadata.json")


def write_metadata(model_path: Path, training: Batch, facts: dict, data_sha256: str | None = None) -> Path:
    """Write what the model needs to be trusted and reproduced beside it: its data (``data_sha256``
    if the caller has the fingerprint already), library versions, parameters and scores (``facts``)."""
    metadata = {
        "model_file": model_path.name,
        "data_sha256": data_sha256 or training.sha256(),
        "data_rows": len(training),
        **_libraries(),
        **facts,
    }
    return write_text_atomically(metadata_path(model_path), json.dumps(metadata, indent=2, default=str))


def _libraries() -> dict:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
        "numpy": np.__version__,
    }


def unchanged_model(path: Path, data_sha256: str, params: dict) -> str | None:
    """The sha256 of the model saved at ``path``, if it was fitted with ``params`` on the rows
    fingerprinted ``data_sha256`` by these libraries and is still the file its metadata recorded
    (``model_sha256``); else None.

    A re-run keeps that file rather than refitting: pickles of equal models need not be equal byte
    for byte, and the registry and the champion link hold the sha256 of the file first saved.
    """
    try:
        recorded = json.loads(metadata_path(path).read_text())
        actual = sha256_of(path)
    except (OSError, ValueError):
        return None
    expected = {**_libraries(), "data_sha256": data_sha256, "params": params, "model_sha256": actual}
    return actual if all(recorded.get(key) == value for key, value in expected.items()) else None


def save_model(model: Pipeline, path: Path) -> str:
    """Save ``model`` under ``path`` atomically; return the file's sha256."""
    with atomic_writer(path) as stream:
        joblib.dump(model, stream)
    return sha256_of(path)


class ModelIntegrityError(RuntimeError):
    """A model file is not the file that was saved."""


def load_model(path: Path, expected_sha256: str) -> Pipeline:
    """Load a saved model, but only the very file that was saved, with the scikit-learn it was saved by.

    joblib files are pickles, which run code when loaded: a file changed since it was saved is refused;
    and a pickle from another scikit-learn version may load yet predict differently.
    """
    metadata = json.loads(metadata_path(path).read_text())
    return model_from_bytes(path.read_bytes(), expected_sha256, metadata, str(path))


def model_from_bytes(data: bytes, expected_sha256: str, metadata: dict, origin: str) -> Pipeline:
    """``load_model`` for a model file's bytes (``origin`` names where they came from)."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ModelIntegrityError(
            f"Refusing to load {origin}: its sha256 is {actual}, but {expected_sha256} was recorded when "
            "it was saved. The file was changed or replaced; retrain (re-run the DAG for its date) "
            "or restore the original file."
        )
    saved_with = metadata["scikit-learn"]
    if saved_with != sklearn.__version__:
        raise ModelIntegrityError(
            f"Refusing to load {origin}: it was saved with scikit-learn {saved_with}, and "
            f"{sklearn.__version__} is installed. Retrain it with this version (re-run the DAG), or pin "
            f"scikit-learn=={saved_with} in requirements.txt."
        )
    return joblib.load(io.BytesIO(data))


def store_copy(connection, path: Path, sha256: str, dataset: str) -> None:
    """Keep the model file at ``path`` and its metadata in the database, where the scoring service loads
    it from (it may run where the models folder is not), and tell the service."""
    stored = {
        "sha256": sha256,
        "model": path.read_bytes(),
        "metadata": Jsonb(json.loads(metadata_path(path).read_text())),
    }
    with connection.transaction():
        connection.execute(sql("store_model_file"), stored)
        connection.execute(sql("notify_champion"), {"dataset": dataset})
