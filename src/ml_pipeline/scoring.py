"""Scores for other systems: a day's rows scored by their dataset's champion into ``predictions``.

The rows come from the dataset's ``[scoring]`` source if it declares one (a drop folder of files to
score, or a query), else from its batch source; a label column is optional and ignored. Each row is
named by the dataset's ``key`` column if it declares one, else by its position in the day's input.
Re-scoring a date replaces its rows, in one transaction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from pyarrow import parquet

from ml_pipeline import data_source
from ml_pipeline.batch_file import normalise, read_header
from ml_pipeline.config import PipelineConfig
from ml_pipeline.db import sql
from ml_pipeline.model_files import load_model
from ml_pipeline.predict import recorded_columns
from ml_pipeline.validation import BatchRejected, check_table_batch, read_batch_path

COPY_ROWS = 100_000  # rows per CSV block sent to COPY: the payload stays small at any size


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
    if kind == "drop_folder":
        path = data_source.drop_file(dataset, config, run_date, source)
        rows = read_batch_path(path, columns, folds=2, test_fraction=0.5, labelled=False).batch
        keys = _file_keys(path, dataset.key) if dataset.key else None
        origin = str(path)
    elif kind in ("sql", "sklearn"):
        table = (
            data_source.query_table(dataset, run_date, source)
            if source.kind == "sql"
            else data_source.sklearn_table(dataset)
        )
        origin = f"query of dataset {dataset.name}" if source.kind == "sql" else source.table
        rows = check_table_batch(table, columns, origin, 2, 0.5, labelled=False).batch
        keys = _table_keys(table, dataset.key, origin) if dataset.key else None
    else:
        count = source.rows if kind == source.kind and source.rows else config.synthetic_rows
        rows = data_source.synthetic_batch(dataset, count, config.random_seed, config.synthetic_shift)
        keys, origin = None, "synthetic"
    if keys is None:
        keys = np.arange(len(rows)).astype(str)
    else:
        _check_keys(keys, dataset.key, origin)
    return RowsToScore(rows.features, keys, origin)


def _file_keys(path: Path, key: str) -> np.ndarray:
    if path.name.endswith(".parquet"):
        names = parquet.read_schema(path).names
        return _table_keys(parquet.read_table(path, columns=[_named(names, key, path)]), key, str(path))
    names = read_header(path)
    name = _named(names, key, path)
    table = arrow_csv.read_csv(
        path,
        read_options=arrow_csv.ReadOptions(column_names=names, skip_rows=1),
        convert_options=arrow_csv.ConvertOptions(include_columns=[name], column_types={name: pa.string()}),
    )
    return _table_keys(table, key, str(path))


def _table_keys(table: pa.Table, key: str, origin: str) -> np.ndarray:
    column = table.column(_named(table.column_names, key, origin))
    return np.asarray(pc.cast(column, pa.string()).to_numpy(zero_copy_only=False), dtype=object)


def _named(names: list[str], key: str, origin) -> str:
    for name in names:
        if normalise(name) == key:
            return name
    raise BatchRejected(
        str(origin), [f"no key column {key!r}: the dataset declares key = {key!r}, to name each scored row"]
    )


def _check_keys(keys: np.ndarray, key: str, origin: str) -> None:
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


def champion_model(connection, config: PipelineConfig):
    """The dataset's champion (its registry row) and the model, loaded only if it is the file that was
    saved, with this scikit-learn; NoChampion if there is none."""
    import psycopg

    from ml_pipeline import registry

    dataset = config.dataset
    try:
        champion = registry.champion(connection, dataset)
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

    The rows go to COPY as CSV built by Arrow a block at a time: no per-row Python.
    """
    columns = "dataset, score_date, row_key, predicted_class, probabilities, model_version"
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(sql("delete_predictions"), {"dataset": dataset, "score_date": score_date})
        with cursor.copy(f"COPY predictions ({columns}) FROM STDIN (FORMAT csv)") as copy:
            for first in range(0, len(rows.keys), COPY_ROWS):
                block = slice(first, first + COPY_ROWS)
                copy.write(_csv_block(dataset, score_date, rows.keys[block], predicted[block],
                                      probabilities[block], version))  # fmt: skip
    return len(rows.keys)


def _csv_block(dataset, score_date, keys, predicted, probabilities, version) -> bytes:
    count = len(keys)
    pieces = ["{"]
    for column in range(probabilities.shape[1]):
        pieces += [","] if column else []
        pieces.append(pc.cast(pa.array(probabilities[:, column]), pa.string()))
    array_text = pc.binary_join_element_wise(*pieces, "}", "")
    table = pa.table(
        {
            "dataset": pa.array([dataset] * count, pa.string()),
            "score_date": pa.array([score_date] * count, pa.date32()),
            "row_key": pa.array(keys, pa.string()),
            "predicted_class": pa.array(predicted, pa.string()),
            "probabilities": array_text,
            "model_version": pa.array(np.full(count, version, dtype=np.int64)),
        }
    )
    sink = io.BytesIO()
    arrow_csv.write_csv(table, sink, arrow_csv.WriteOptions(include_header=False))
    return sink.getvalue()


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
