"""Scoring a file of rows with a dataset's champion model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import csv as arrow_csv

from ml_pipeline.batch_file import Columns
from ml_pipeline.datasets import load
from ml_pipeline.files import atomic_writer
from ml_pipeline.model_files import load_model, metadata_path
from ml_pipeline.validation import read_batch_path


def recorded_columns(model_path: Path, datasets_dir: str | Path) -> Columns:
    """The features, label and classes recorded with a model when it was saved.

    Models saved before datasets were declared recorded none: they were all trained on breast cancer.
    """
    recorded = json.loads(metadata_path(model_path).read_text())
    if "features" not in recorded:
        dataset = load(datasets_dir, "breast_cancer")
        return Columns(dataset.features, dataset.label, dataset.classes)
    return Columns(tuple(recorded["features"]), recorded["label"], tuple(recorded["classes"]))


def predict_file(input_path: Path, output_path: Path, model_path: Path, sha256: str, datasets_dir) -> int:
    """Write ``input_path``'s rows (CSV or Parquet) with the class probabilities and the predicted class.

    The rows are checked against the feature list recorded with the model (a label column is optional
    and ignored); the model is loaded only if it is the file that was saved. A binary model adds
    ``probability`` (of the second class), a multiclass one ``probability_<class>`` per class; the
    predicted class is written as declared. Returns the number of rows scored.
    """
    if output_path.is_dir():
        raise IsADirectoryError(
            f"The output {output_path} is a folder: name a file, e.g. {output_path}/scores.csv."
        )
    model = load_model(model_path, sha256)
    columns = recorded_columns(model_path, datasets_dir)
    rows = read_batch_path(input_path, columns, folds=2, test_fraction=0.5, labelled=False).batch
    scored = {name: rows.features[:, index] for index, name in enumerate(rows.feature_names)}
    probabilities = model.predict_proba(rows.features)
    if len(columns.classes) == 2:
        scored["probability"] = probabilities[:, 1]
    else:
        scored.update({f"probability_{c}": probabilities[:, i] for i, c in enumerate(columns.classes)})
    scored["predicted_label"] = np.asarray(columns.classes)[model.predict(rows.features)]
    with atomic_writer(output_path) as stream:
        arrow_csv.write_csv(pa.table(scored), stream, arrow_csv.WriteOptions(quoting_header="none"))
    return len(rows)
