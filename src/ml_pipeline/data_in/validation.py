"""Checking a day's batch before anything is written, whatever its source.

Every source yields its rows as an Arrow table (``SourceTable``); ``check_rows`` holds it to the batch
rules: exactly the dataset's feature columns and its label (in any order; names matched after folding
case, spaces and punctuation), numbers only, no empty, NaN or infinite values, labels among the classes
(see table_check.py). Then the batch needs at least two classes and enough rows of each for the split
and the folds. Every problem found is reported at once, with a count and an example; duplicated rows
are reported but kept. A file is read strictly first (batch_file.py for CSV).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml_pipeline.basics.batch import Batch
from ml_pipeline.data_in.batch_file import CsvRows
from ml_pipeline.data_in.source_table import SourceTable, check_table, read_parquet_table
from ml_pipeline.data_in.table_check import Columns, FileBatch, FileRejected


class BatchRejected(ValueError):
    """The batch cannot be used; ``problems`` says why, one entry per problem."""

    def __init__(self, source: str, problems: list[str]):
        self.source, self.problems = source, problems
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"Batch {source} rejected, {len(problems)} problem(s):\n{listed}")


@dataclass
class Checked:
    batch: Batch
    notes: list[str] = field(default_factory=list)


def columns_of(dataset) -> Columns:
    """What a batch of ``dataset`` (a ``datasets.Dataset``) must hold."""
    return Columns(dataset.features, dataset.label, dataset.classes, dataset.key)


def minimum_rows_per_class(folds: int, test_fraction: float) -> int:
    """Rows a class needs so that the training split still has one per fold, and the test split one."""
    return max(folds + 1, math.ceil(folds / (1 - test_fraction)) + 1)


def file_table(path: Path, columns: Columns) -> SourceTable:
    """The rows of a CSV (``.csv``, ``.csv.gz``) or Parquet file, the columns of ``columns`` that hold
    numbers read as such; BatchRejected if it cannot be read as a table."""
    try:
        return read_parquet_table(path) if path.name.endswith(".parquet") else CsvRows(path, columns)
    except FileRejected as rejection:
        raise BatchRejected(str(path), rejection.problems) from None


def read_batch_path(
    path: Path, columns: Columns, folds: int, test_fraction: float, labelled: bool = True
) -> Checked:
    """The batch in a CSV or Parquet file, or BatchRejected naming every problem."""
    return check_rows(file_table(path, columns), columns, folds, test_fraction, labelled)


def check_rows(
    rows: SourceTable, columns: Columns, folds: int, test_fraction: float, labelled: bool = True
) -> Checked:
    """A source's rows as the batch, or BatchRejected naming every problem. ``labelled=False`` reads
    rows to score: the label column may be absent, and the labels are then all zeros."""
    try:
        read = check_table(rows, columns, labelled)
    except FileRejected as rejection:
        raise BatchRejected(rows.origin, rejection.problems) from None
    return _checked(read, columns, rows, folds, test_fraction, labelled)


def _checked(
    read: FileBatch, columns: Columns, rows: SourceTable, folds: int, test_fraction: float, labelled: bool
) -> Checked:
    """The batch read, if its labels suit the split and folds; duplicated rows noted at their place."""
    problems = read.problems
    if labelled and read.codes is not None:
        problems += _label_problems(read.codes, columns.classes, folds, test_fraction)
    if problems:
        raise BatchRejected(rows.origin, problems)
    labels = read.codes if read.codes is not None else np.zeros(len(read.features), dtype=np.int8)
    checked = Checked(Batch(read.features, labels, columns.features))
    repeated = repeated_rows(checked.batch) if labelled else []  # a note for a training batch alone
    if len(repeated):
        first = rows.place(repeated[:1])[int(repeated[0])]
        checked.notes.append(f"{len(repeated)} duplicated row(s), kept (the first at {first})")
    return checked


def repeated_rows(batch: Batch) -> np.ndarray:
    """The indices of rows that repeat an earlier row exactly, label included."""
    # One 64-bit fingerprint per row, each value's bits folded and weighted a column at a time, so
    # that whole numbers do not cancel out; then an exact comparison within each run of equal
    # fingerprints, against the run's first row.
    weights = np.random.default_rng(0).integers(1, 2**63, batch.features.shape[1] + 1, dtype=np.uint64) | 1
    keys = _mixed(batch.labels.astype(np.uint64)) * weights[-1]
    for index in range(batch.features.shape[1]):
        values = np.ascontiguousarray(batch.features[:, index]) + 0.0  # -0.0 is 0.0
        keys += _mixed(values.view(np.uint64)) * weights[index]
    order = np.argsort(keys)
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    run_first = order[np.repeat(starts, np.diff(np.r_[starts, len(order)]))]
    later = run_first != order
    first, second = run_first[later], order[later]
    exact = (batch.features[first] == batch.features[second]).all(axis=1)
    exact &= batch.labels[first] == batch.labels[second]
    # Each group of equal rows is its run's first row and the rows equal to it: all but its earliest repeat.
    members = np.concatenate([first[exact], second[exact]])
    groups, group = np.unique(np.concatenate([first[exact], first[exact]]), return_inverse=True)
    earliest = np.full(len(groups), len(batch.labels))
    np.minimum.at(earliest, group, members)
    return np.unique(members[members != earliest[group]])


def _mixed(bits: np.ndarray) -> np.ndarray:
    """The high bits folded into the low ones: whole numbers' low bits are all zero otherwise."""
    return bits ^ (bits >> np.uint64(29))


def _label_problems(codes: np.ndarray, classes: tuple, folds: int, test_fraction: float) -> list[str]:
    counts = {label: int(np.count_nonzero(codes == index)) for index, label in enumerate(classes)}
    present = [label for label, count in counts.items() if count]
    if len(present) < 2:
        return [
            f"only one class: every label is {present[0] if present else 'missing'}; "
            f"the model needs rows of at least two of {', '.join(map(str, classes))}"
        ]
    needed = minimum_rows_per_class(folds, test_fraction)
    return [
        f"too few rows of class {label}: {count}; a {folds}-fold CV with a "
        f"{test_fraction:g} test share needs at least {needed} per class"
        for label, count in counts.items()
        if count < needed
    ]


def reject_file(path: Path, rejected_dir: Path, rejection: BatchRejected) -> Path:
    """Move a rejected batch file into ``rejected_dir`` with a ``.reason.txt`` beside it."""
    rejected_dir.mkdir(parents=True, exist_ok=True)
    target = rejected_dir / path.name
    attempt = 1
    while target.exists():  # an earlier rejection of the same day keeps its file
        attempt += 1
        target = rejected_dir / f"{path.stem}.{attempt}{path.suffix}"
    shutil.move(path, target)  # the drop folder may be a mount of its own
    target.with_name(target.name + ".reason.txt").write_text(str(rejection) + "\n")
    return target
