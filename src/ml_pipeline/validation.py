"""Checking a day's batch before anything is written.

A batch file is accepted only as a comma-separated UTF-8 table with exactly the 30 feature columns
of the breast-cancer table plus ``label`` (in any order; no other columns), numbers only, no empty,
NaN or infinite values, labels 0 and 1 with both present, and enough rows of each class for the split
and the folds. Every problem found is reported at once, with a count and an example; duplicated rows
are reported but kept.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml_pipeline.batch import Batch
from ml_pipeline.columns import FEATURE_COLUMNS, LABEL_COLUMN

REQUIRED_COLUMNS = (*FEATURE_COLUMNS, LABEL_COLUMN)


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


def minimum_rows_per_class(folds: int, test_fraction: float) -> int:
    """Rows a class needs so that the training split still has one per fold, and the test split one."""
    return max(folds + 1, math.ceil(folds / (1 - test_fraction)) + 1)


def read_batch_csv(path: Path, folds: int, test_fraction: float, labelled: bool = True) -> Checked:
    """The batch in ``path``, or BatchRejected naming every problem found.

    ``labelled=False`` reads rows to score: the label column may be absent, and is then all zeros.
    """
    import pandas as pd

    source = str(path)
    head = b""
    if path.exists():
        with open(path, "rb") as stream:
            head = stream.read(65536)  # the start is enough for these checks; pandas reads the rest
    if not head.strip():
        raise BatchRejected(source, ["the file is empty"])
    try:
        first_line = head.split(b"\n", 1)[0].decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BatchRejected(source, [_not_utf8(head, error)]) from None
    if first_line.count(";") >= len(REQUIRED_COLUMNS) - 1 and "," not in first_line:
        raise BatchRejected(
            source, ["the columns are separated by semicolons; save the file with commas (,) instead"]
        )
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)
    except UnicodeDecodeError as error:
        raise BatchRejected(source, [_not_utf8(path.read_bytes(), error)]) from None
    except (pd.errors.ParserError, csv.Error) as error:
        raise BatchRejected(source, [f"not a readable CSV table: {error}"]) from None
    return check_frame(frame, source, folds, test_fraction, labelled)


def _not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    return (
        f"not UTF-8 text: byte 0x{data[error.start]:02x} at offset {error.start} "
        "(a binary file, or text in another encoding); save the file as UTF-8 CSV"
    )


def check_frame(frame, source: str, folds: int, test_fraction: float, labelled: bool = True) -> Checked:
    """Check a table as pandas read it; convert it to a Batch if every check passes."""
    problems: list[str] = []
    columns = [str(column).strip() for column in frame.columns]
    required = REQUIRED_COLUMNS if labelled else FEATURE_COLUMNS
    missing = [column for column in required if column not in columns]
    unexpected = [column for column in columns if column not in REQUIRED_COLUMNS]
    if missing:
        problems.append(f"{len(missing)} missing column(s): {', '.join(missing)}")
    if unexpected:
        problems.append(
            f"{len(unexpected)} unexpected column(s): {', '.join(unexpected[:10])}; "
            "only the 30 feature columns and label are allowed"
        )
    frame.columns = columns
    if len(frame) == 0:
        problems.append("no data rows: the file has a header only")
        raise BatchRejected(source, problems)

    features = np.empty((len(frame), len(FEATURE_COLUMNS)))  # filled column by column: no second copy
    for index, column in enumerate(FEATURE_COLUMNS):
        if column in columns:
            features[:, index] = _numbers(frame[column], column, problems)
    labels = (
        _numbers(frame[LABEL_COLUMN], LABEL_COLUMN, problems)
        if labelled and LABEL_COLUMN in columns
        else None
    )
    if labels is not None:
        problems.extend(_label_problems(labels, folds, test_fraction))
    elif not labelled:
        labels = np.zeros(len(frame))
    if problems:
        raise BatchRejected(source, problems)

    notes = []
    duplicated = frame.duplicated().to_numpy()
    if duplicated.any():
        notes.append(
            f"{int(duplicated.sum())} duplicated row(s), kept "
            f"(the first at line {int(np.flatnonzero(duplicated)[0]) + 2})"
        )
    return Checked(Batch(features, labels.astype(np.int8), FEATURE_COLUMNS), notes)


def check_batch(batch: Batch, source: str, folds: int, test_fraction: float) -> Checked:
    """The value rules, for a batch that did not come from a file (a built-in source)."""
    problems: list[str] = []
    for index in np.flatnonzero(~np.isfinite(batch.features).all(axis=0)):
        column = batch.feature_names[index]
        _report(problems, column, np.isnan(batch.features[:, index]), "are empty or NaN")
        _report(problems, column, np.isinf(batch.features[:, index]), "are infinite")
    problems.extend(_label_problems(np.asarray(batch.labels, dtype=np.float64), folds, test_fraction))
    if problems:
        raise BatchRejected(source, problems)
    return Checked(batch)


def _numbers(column_values, column: str, problems: list[str]) -> np.ndarray:
    """The column as float64, adding a problem for text, empty cells and infinities."""
    import pandas as pd

    numbers = pd.to_numeric(column_values, errors="coerce").to_numpy(dtype=np.float64)
    empty = column_values.isna().to_numpy()
    _report(problems, column, np.isnan(numbers) & ~empty, "are not numbers", column_values)
    _report(problems, column, empty, "are empty or NaN")
    _report(problems, column, np.isinf(numbers), "are infinite", column_values)
    return numbers


def _report(problems: list[str], column: str, mask: np.ndarray, what: str, shown=None) -> None:
    if mask.any():
        row = int(np.flatnonzero(mask)[0])
        value = shown.iloc[row] if shown is not None else None
        example = "" if value is None else f": {value!r}" if isinstance(value, str) else f": {value}"
        problems.append(
            f"column {column!r}: {int(mask.sum())} row(s) {what} (first at line {row + 2}{example})"
        )


def _label_problems(labels: np.ndarray, folds: int, test_fraction: float) -> list[str]:
    known = labels[np.isfinite(labels)]
    problems = []
    outside = ~np.isin(known, (0, 1))
    if outside.any():
        problems.append(
            f"column 'label': {int(outside.sum())} row(s) hold a value other than 0 or 1 "
            f"(e.g. {known[outside][0]:g})"
        )
    counts = {label: int(np.count_nonzero(known == label)) for label in (0, 1)}
    present = [label for label, count in counts.items() if count]
    if len(present) < 2:
        problems.append(
            f"only one class: every label is {present[0] if present else 'missing'}; "
            "the model needs rows of both 0 and 1"
        )
    else:
        needed = minimum_rows_per_class(folds, test_fraction)
        for label, count in counts.items():
            if count < needed:
                problems.append(
                    f"too few rows of class {label}: {count}; a {folds}-fold CV with a "
                    f"{test_fraction:g} test share needs at least {needed} per class"
                )
    return problems


def reject_file(path: Path, rejected_dir: Path, rejection: BatchRejected) -> Path:
    """Move a rejected batch file into ``rejected_dir`` with a ``.reason.txt`` beside it."""
    rejected_dir.mkdir(parents=True, exist_ok=True)
    target = rejected_dir / path.name
    attempt = 1
    while target.exists():  # an earlier rejection of the same day keeps its file
        attempt += 1
        target = rejected_dir / f"{path.stem}.{attempt}{path.suffix}"
    path.replace(target)
    target.with_name(target.name + ".reason.txt").write_text(str(rejection) + "\n")
    return target
