"""Scores for other systems: a day's rows scored by their dataset's champion into ``predictions``.

The rows come from the dataset's ``[scoring]`` source if it declares one (a drop folder of files to
score, or a query), else from its batch source; a label column is optional and ignored. Each row is
named by the dataset's ``key`` column if it declares one, else by its position in the day's input.
Re-scoring a date replaces its rows, in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.db import sql
from ml_pipeline.data_in import sources
from ml_pipeline.data_in.batch_store import COPY_SIGNATURE, COPY_TRAILER, POSTGRES_EPOCH
from ml_pipeline.data_in.validation import check_rows
from ml_pipeline.registry.model_files import load_model
from ml_pipeline.use.predict import check_keys, recorded_columns, table_keys

COPY_ROWS = 100_000  # rows per block sent to COPY: the payload stays small at any size
FLOAT8_OID = 701  # PostgreSQL's type of an element of a double precision[]


class NoChampion(LookupError):
    """The dataset has no champion to score with."""


@dataclass(frozen=True)
class RowsToScore:
    features: np.ndarray
    keys: np.ndarray  # str
    origin: str


def rows_to_score(config: PipelineConfig, run_date: date, columns) -> RowsToScore:
    """The day's rows to score, checked against ``columns`` (the model's recorded features), with
    their keys; BatchRejected naming every problem otherwise."""
    dataset = config.declaration()
    source = dataset.scoring_source
    kind = "synthetic" if config.source == "synthetic" else source.kind  # a load test's choice
    rows = sources.day_rows(config, dataset, run_date, source, kind, columns)
    features = check_rows(rows, columns, folds=2, test_fraction=0.5, labelled=False).batch.features
    if dataset.key and kind != "synthetic":
        keys = table_keys(rows.table, dataset.key, rows.origin)
        check_keys(keys, dataset.key, rows.origin)
    else:
        keys = np.arange(len(features)).astype(str)
    return RowsToScore(features, keys, rows.origin)


def champion_model(connection, config: PipelineConfig):
    """The dataset's champion (its registry row) and the model, loaded only if it is the file that was
    saved, with this scikit-learn; NoChampion if there is none."""
    import psycopg

    from ml_pipeline.registry import promotion

    dataset = config.dataset
    try:
        champion = promotion.champion(connection, dataset)
    except psycopg.errors.UndefinedTable:  # no training run has made the tables yet
        champion = None
    if champion is None:
        raise NoChampion(
            f"Dataset {dataset} has no champion model yet, so nothing is scored. A successful run of its "
            "training DAG registers one."
        )
    path = Path(config.models_dir) / champion["path"]
    return champion, path, load_model(path, champion["sha256"])


def score(model, rows: RowsToScore, classes: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Each row's predicted class (as text) and its probability of each class, in declared order."""
    probabilities = model.predict_proba(rows.features)
    predicted = np.asarray([str(c) for c in classes], dtype=object)[probabilities.argmax(axis=1)]
    return predicted, probabilities


def write_predictions(
    connection, dataset: str, score_date: date, rows: RowsToScore, predicted, probabilities, version: int
) -> int:
    """Replace the date's predictions with these, in one transaction; return the row count.

    The rows go to COPY in PostgreSQL's binary format, built as NumPy structured arrays a block at a
    time: no per-row Python, no float-to-text formatting, no array parsing by the server.
    """
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(sql("delete_predictions"), {"dataset": dataset, "score_date": score_date})
        with cursor.copy(sql("copy_predictions")) as copy:
            copy.write(COPY_SIGNATURE)
            for first in range(0, len(rows.keys), COPY_ROWS):
                block = slice(first, first + COPY_ROWS)
                for part in _binary_rows(dataset, score_date, rows.keys[block], predicted[block],
                                         probabilities[block], version):  # fmt: skip
                    copy.write(part)
            copy.write(COPY_TRAILER)
    return len(rows.keys)


def _binary_rows(dataset, score_date, keys, predicted, probabilities, version):
    """The rows as binary COPY tuples. A row's size depends on its key's and its class's length in
    bytes, so the rows of each (key length, class) go out as an array of their own."""
    encoded = np.char.encode(np.asarray(keys, dtype=str), "utf-8")
    lengths = np.char.str_len(encoded)
    names, classes = np.unique(np.asarray(predicted, dtype=str), return_inverse=True)
    for length in np.unique(lengths):
        for index, name in enumerate(names):
            chosen = (lengths == length) & (classes == index)
            if chosen.any():
                yield _tuples(dataset, score_date, encoded[chosen].astype(f"S{length}"), name.encode(),
                              probabilities[chosen], version).tobytes()  # fmt: skip


def _tuples(dataset: str, score_date: date, keys: np.ndarray, predicted: bytes, probabilities, version: int):
    name = dataset.encode()
    classes = probabilities.shape[1]
    layout = [("fields", ">i2"), ("dataset_size", ">i4"), ("dataset", f"S{len(name)}"),
              ("date_size", ">i4"), ("date", ">i4"), ("key_size", ">i4"), ("key", keys.dtype),
              ("class_size", ">i4"), ("class", f"S{len(predicted)}"),
              # a one-dimensional float8[] without NULLs: its header, then (size, value) per element
              ("array_size", ">i4"), ("dimensions", ">i4"), ("has_nulls", ">i4"), ("element_type", ">i4"),
              ("length", ">i4"), ("lower_bound", ">i4")]  # fmt: skip
    for column in range(classes):
        layout += [(f"size_{column}", ">i4"), (f"probability_{column}", ">f8")]
    tuples = np.empty(len(keys), dtype=[*layout, ("version_size", ">i4"), ("version", ">i8")])
    tuples["fields"] = 6
    tuples["dataset_size"], tuples["dataset"] = len(name), name
    tuples["date_size"], tuples["date"] = 4, (score_date - POSTGRES_EPOCH).days
    tuples["key_size"], tuples["key"] = keys.dtype.itemsize, keys
    tuples["class_size"], tuples["class"] = len(predicted), predicted
    tuples["array_size"] = 20 + 12 * classes
    tuples["dimensions"], tuples["has_nulls"], tuples["element_type"] = 1, 0, FLOAT8_OID
    tuples["length"], tuples["lower_bound"] = classes, 1
    for column in range(classes):
        tuples[f"size_{column}"], tuples[f"probability_{column}"] = 8, probabilities[:, column]
    tuples["version_size"], tuples["version"] = 8, version
    return tuples


def score_day(connection, config: PipelineConfig, score_date: date) -> dict:
    """Score the day's rows with the champion into ``predictions``: what was scored, by which model."""
    champion, path, model = champion_model(connection, config)
    columns = recorded_columns(path, config.datasets_dir)
    dataset = config.declaration()
    rows = rows_to_score(config, score_date, replace(columns, key=dataset.key))
    predicted, probabilities = score(model, rows, columns.classes)
    count = write_predictions(
        connection, dataset.name, score_date, rows, predicted, probabilities, champion["version"]
    )
    classes, counts = np.unique(predicted.astype(str), return_counts=True)
    return {
        "dataset": dataset.name,
        "score_date": score_date.isoformat(),
        "rows": count,
        "model_version": champion["version"],
        "origin": rows.origin,
        "predicted": dict(zip(classes.tolist(), counts.tolist(), strict=True)),
    }
