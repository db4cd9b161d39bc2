"""Scoring a file of rows with a dataset's champion model."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv

from ml_pipeline.basics.datasets import load
from ml_pipeline.basics.declaration_rules import normalise
from ml_pipeline.basics.files import atomic_writer
from ml_pipeline.data_in.table_check import Columns
from ml_pipeline.data_in.validation import BatchRejected, check_rows, file_table
from ml_pipeline.registry.model_files import load_model, metadata_path


def recorded_columns(model_path: Path, datasets_dir: str | Path) -> Columns:
    """The features, label and classes recorded with a model when it was saved.

    Models saved before datasets were declared recorded none: they were all trained on breast cancer.
    """
    return columns_recorded(json.loads(metadata_path(model_path).read_text()), datasets_dir)


def columns_recorded(metadata: dict, datasets_dir: str | Path) -> Columns:
    """``recorded_columns`` from a model's metadata, its dataset's key column with them."""
    if "features" not in metadata:
        dataset = load(datasets_dir, "breast_cancer")
        return Columns(dataset.features, dataset.label, dataset.classes, dataset.key)
    features, classes = tuple(metadata["features"]), tuple(metadata["classes"])
    return Columns(features, metadata["label"], classes, metadata.get("key"))


def predict_file(
    input_path: Path, output_path: Path, model_path: Path, sha256: str, datasets_dir, key: str | None = None
) -> int:
    """Write ``input_path``'s rows (CSV or Parquet) with each class's probability and the predicted class.

    The rows are checked against the feature list recorded with the model (a label column is optional
    and ignored); the model is loaded only if it is the file that was saved. The dataset's ``key``
    column, if it declares one, comes first, so that the scores join back to the rows; the columns keep
    the file's own header spelling; ``probability_<class>`` follows for each class, then the predicted
    class as declared. Returns the number of rows scored.
    """
    refuse_output(input_path, output_path)
    model = load_model(model_path, sha256)
    columns = recorded_columns(model_path, datasets_dir)
    columns = replace(columns, key=key)
    table = file_table(input_path, columns)
    rows = check_rows(table, columns, folds=2, test_fraction=0.5, labelled=False).batch
    spelt = {normalise(name): name for name in table.names}
    scored = {}
    if key:
        keys = table_keys(table.table, key, str(input_path))
        check_keys(keys, key, str(input_path))
        scored[spelt[key]] = keys
    scored.update({spelt.get(name, name): rows.features[:, i] for i, name in enumerate(rows.feature_names)})
    probabilities = model.predict_proba(rows.features)
    scored.update({f"probability_{c}": probabilities[:, i] for i, c in enumerate(columns.classes)})
    scored["predicted_label"] = np.asarray(columns.classes)[model.predict(rows.features)]
    with atomic_writer(output_path) as stream:
        arrow_csv.write_csv(pa.table(scored), stream, arrow_csv.WriteOptions(quoting_header="none"))
    return len(rows)


class OutputRefused(ValueError):
    """The scores cannot be written where the command was told to write them."""


def refuse_output(input_path: Path, output_path: Path) -> None:
    """OutputRefused, before anything is read, unless the scores can be written at ``output_path``."""
    folder = output_path.parent
    if output_path.is_dir():
        problem = f"is a folder: name a file, e.g. {output_path}/scores.csv"
    elif output_path.resolve() == input_path.resolve():
        problem = "is the input: name another file, e.g. --output scored.csv"
    elif not folder.is_dir():
        problem = f"is in a folder that does not exist ({folder}): make it, or name a file in another"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"is in a folder this user may not write to ({folder}): name a file in another"
    else:
        return
    raise OutputRefused(f"The output {output_path} {problem}.")


def table_keys(table: pa.Table, key: str, origin: str) -> np.ndarray:
    """The values of a table's key column (its name folded as the reader folds headers), as text."""
    column = table.column(_named(table.column_names, key, origin))
    return np.asarray(pc.cast(column, pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def _named(names: list[str], key: str, origin) -> str:
    for name in names:
        if normalise(name) == key:
            return name
    raise BatchRejected(
        str(origin), [f"no key column {key!r}: the dataset declares key = {key!r}, to name each scored row"]
    )


def check_keys(keys: np.ndarray, key: str, origin: str) -> None:
    """BatchRejected unless every row has a key of its own."""
    empty = np.array([value is None or value == "" for value in keys])
    problems = []
    if empty.any():
        first = int(np.flatnonzero(empty)[0]) + 1
        problems.append(f"key column {key!r}: {int(empty.sum())} row(s) are empty (first at row {first})")
    unique, counts = np.unique(keys[~empty].astype(str), return_counts=True)
    if (counts > 1).any():
        problems.append(
            f"key column {key!r}: {int((counts > 1).sum())} value(s) name more than one row "
            f"(e.g. {unique[counts > 1][0]!r}); each row needs its own key"
        )
    if problems:
        raise BatchRejected(origin, problems)
