"""Scoring a CSV of rows with the champion model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import csv as arrow_csv

from ml_pipeline.files import atomic_writer
from ml_pipeline.model_files import load_model
from ml_pipeline.validation import BATCH_COLUMNS, read_batch_csv


def predict_csv(input_path: Path, output_path: Path, model_path: Path, sha256: str) -> int:
    """Write ``input_path``'s rows with the probability of class 1 and the predicted class.

    The rows are read with the batch rules (a label column is optional and ignored); the model is
    loaded only if it is the file that was saved. Returns the number of rows scored.
    """
    if output_path.is_dir():
        raise IsADirectoryError(
            f"The output {output_path} is a folder: name a file, e.g. {output_path}/scores.csv."
        )
    model = load_model(model_path, sha256)
    rows = read_batch_csv(input_path, folds=2, test_fraction=0.5, labelled=False).batch
    columns = {name: rows.features[:, index] for index, name in enumerate(rows.feature_names)}
    columns["probability"] = model.predict_proba(rows.features)[:, 1]
    columns["predicted_label"] = np.asarray(BATCH_COLUMNS.classes)[model.predict(rows.features)]
    with atomic_writer(output_path) as stream:
        arrow_csv.write_csv(pa.table(columns), stream, arrow_csv.WriteOptions(quoting_header="none"))
    return len(rows)
