"""Scoring a CSV of rows with the champion model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_pipeline.files import atomic_writer
from ml_pipeline.model_files import load_model
from ml_pipeline.validation import read_batch_csv


def predict_csv(input_path: Path, output_path: Path, model_path: Path, sha256: str) -> int:
    """Write ``input_path``'s rows with the probability of class 1 and the predicted class.

    The rows are checked with the batch rules (a label column is optional and ignored); the model is
    loaded only if it is the file that was saved. Returns the number of rows scored.
    """
    model = load_model(model_path, sha256)
    rows = read_batch_csv(input_path, folds=2, test_fraction=0.5, labelled=False).batch
    scored = pd.read_csv(input_path, encoding="utf-8-sig", skipinitialspace=True)
    scored["probability"] = model.predict_proba(rows.features)[:, 1]
    scored["predicted_label"] = model.predict(rows.features)
    with atomic_writer(output_path) as stream:
        scored.to_csv(stream, index=False)
    return len(scored)
