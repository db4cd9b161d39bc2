"""What every reader of a batch shares, and the check of an Arrow table (a Parquet file, a SQL query's
result) by the batch rules.

The expected columns (``Columns``) and the header matched to them after folding case, spaces and
punctuation (`Mean Radius` is `mean_radius`), in any order. Feature cells must be numbers (numeric
text is fine; `true`, text, empty, NaN and infinite are not); labels must be one of the classes (`1.0`
is the class `1`). Every problem is named with its column, how many rows, and the first row and value,
each echoed value cut short.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import parquet

SHOWN_CHARS = 40  # longest value echoed in a message
NUMBER = r"^\s*[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|infinity|nan)\s*$"


class FileRejected(ValueError):
    """The file cannot be read as a batch; ``problems`` says why, one entry per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Columns:
    """What a batch file must hold: its feature columns, its label column and the label's classes."""

    features: tuple[str, ...]
    label: str
    classes: tuple
    key: str | None = None  # a column naming each row to score, allowed and not read as a number

    @property
    def numeric_labels(self) -> bool:
        return all(isinstance(c, int) for c in self.classes)

    def label_codes(self, labels: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """Each label's class index (0, 1, ...), and a mask of labels that are no class."""
        codes = np.full(len(labels), -1, dtype=np.int8)
        if not self.numeric_labels and not pa.types.is_string(labels.type):
            labels = pc.cast(labels, pa.string())  # a table's integer column, for string classes
        if self.numeric_labels:  # `1`, `1.0` and ` 1 ` are the class 1
            if pa.types.is_integer(labels.type) or pa.types.is_decimal(labels.type):
                labels = pc.cast(labels, pa.float64())
            elif not pa.types.is_floating(labels.type):
                text = pc.utf8_trim_whitespace(labels)
                numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER, ignore_case=True), False)
                labels = pc.cast(pc.if_else(numeric, text, None), pa.float64())
            values = labels.to_numpy(zero_copy_only=False)
            for index, label in enumerate(self.classes):
                codes[values == label] = index
        else:
            text = pc.utf8_trim_whitespace(labels)
            for index, label in enumerate(self.classes):
                codes[pc.fill_null(pc.equal(text, str(label)), False).to_numpy(zero_copy_only=False)] = index
        return codes, codes < 0


def normalise(name: str) -> str:
    """A column name folded: lower case, runs of spaces and punctuation made one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def shown(value) -> str:
    text = str(value)
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…")


def check_regular_file(path: Path) -> None:
    """FileRejected unless ``path`` is a regular file of its own (not a link, folder or pipe)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise FileRejected([f"there is no file {path}"]) from None
    if stat.S_ISLNK(info.st_mode):
        problem = "a symbolic link" if os.path.exists(path) else "a symbolic link that leads nowhere"
        raise FileRejected(
            [f"{path.name} is {problem}: only regular files are read; copy the file in instead"]
        )
    if stat.S_ISDIR(info.st_mode):
        raise FileRejected([f"{path.name} is a folder, not a file"])
    if not stat.S_ISREG(info.st_mode):
        raise FileRejected([f"{path.name} is not a regular file (a pipe, socket or device)"])


def match_header(names: list[str], columns: Columns, labelled: bool) -> tuple[list[str], list[str]]:
    """The header's names made the expected ones (unknown names kept as they are), and its problems."""
    named = (*columns.features, columns.label, *([columns.key] if columns.key else []))
    expected = {normalise(name): name for name in named}
    matched, problems, seen = [], [], {}
    for position, name in enumerate(names, start=1):
        folded = normalise(name)
        if folded in seen:
            problems.append(
                f"columns {seen[folded][0]} and {position} ({shown(seen[folded][1])} and {shown(name)}) "
                "are the same column once case, spaces and punctuation are folded; keep one"
            )
        seen.setdefault(folded, (position, name))
        matched.append(expected.get(folded, name))
    required = [*columns.features, columns.label] if labelled else list(columns.features)
    missing = [name for name in required if name not in matched]
    unexpected = [name for name in matched if name not in expected.values()]
    if missing:
        problems.append(f"{len(missing)} missing column(s): {', '.join(missing)}")
    if unexpected:
        hints = [
            f"{shown(name)} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(
                normalise(name), missing, n=1, cutoff=0.75)) else shown(name)
            for name in unexpected[:10]
        ]  # fmt: skip
        problems.append(
            f"{len(unexpected)} unexpected column(s): {', '.join(hints)}; only the "
            f"{len(columns.features)} feature columns and {columns.label} are allowed"
        )
    if len(set(matched)) != len(matched):
        matched = [f"{name}#{position}" for position, name in enumerate(matched)]  # Arrow needs unique names
    return matched, problems


@dataclass
class FileBatch:
    """What a batch file holds: features in the declared order, class indices (None if unlabelled)."""

    features: np.ndarray
    codes: np.ndarray | None
    problems: list[str]


class Problems:
    """Problems found per column, each with its first record; ``place`` names where records are
    (physical lines of a file, looked up once at the end, or rows of a table)."""

    def __init__(self, place: Callable[[np.ndarray], dict[int, str]]):
        self.place, self.found = place, []

    def add(self, column: str, mask: np.ndarray, what: str, values=None) -> None:
        if mask.any():
            first = int(np.flatnonzero(mask)[0])
            value = None if values is None else values[first]
            self.found.append((column, int(mask.sum()), first, what, value))

    def messages(self) -> list[str]:
        places = self.place(np.array([first for _, _, first, _, _ in self.found]))
        return [
            f"column {column!r}: {count} row(s) {what} (first at {places.get(first, '?')}"
            + ("" if value is None else f": {_number(value) if isinstance(value, float) else shown(value)}")
            + ")"
            for column, count, first, what, value in self.found
        ]


def table_rows(records: np.ndarray) -> dict[int, str]:
    return {int(record): f"row {int(record) + 1}" for record in records}


def _number(value: float):
    return int(value) if value.is_integer() else value


def label_codes_of(labels: pa.ChunkedArray | None, columns: Columns, found: Problems) -> np.ndarray | None:
    """Each label's class index; empty labels and labels that are no class are noted in ``found``."""
    if labels is None:
        return None
    codes, unknown = columns.label_codes(labels)
    empty = labels.is_null().to_numpy(zero_copy_only=False)
    found.add(columns.label, empty, "are empty")
    classes = ", ".join(map(str, columns.classes))
    found.add(
        columns.label, unknown & ~empty, f"hold a value that is not a class ({classes})",
        labels.to_numpy(zero_copy_only=False),
    )  # fmt: skip
    return codes


def read_parquet_file(path: Path, columns: Columns, labelled: bool = True) -> FileBatch:
    """The batch in a Parquet file, checked like a table (see ``check_table``)."""
    check_regular_file(path)
    try:
        table = parquet.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        # Arrow's own reason, without the path it puts first (the refusal names the file already).
        reason = re.sub(r"^Could not open Parquet input source '.*?': ", "", str(error), flags=re.S)
        raise FileRejected([f"not a readable Parquet file: {reason[:300]}"]) from None
    return check_table(table, columns, labelled)


def check_table(table: pa.Table, columns: Columns, labelled: bool = True) -> FileBatch:
    """A table's columns (matched like a CSV header) as the batch: numeric or numeric-text features,
    labels among the classes. Problems name the column, the count, and the first row and value."""
    names, problems = match_header(table.column_names, columns, labelled)
    table = table.rename_columns(names)
    if table.num_rows == 0:
        raise FileRejected([*problems, "no data rows"])
    found = Problems(table_rows)
    features = np.empty((table.num_rows, len(columns.features)), order="F")
    for index, name in enumerate(columns.features):
        if name not in table.column_names:
            continue
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            numbers_into(features[:, index], column, name, found)
        elif (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_decimal(column.type)
        ):
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            features[:, index] = values
            found.add(name, np.isnan(values), "are empty or NaN")
            found.add(name, np.isinf(values), "are infinite", values)
        else:
            problems.append(f"column {name!r} holds {column.type} values, not numbers")
    labels = table.column(columns.label) if columns.label in table.column_names else None
    codes = label_codes_of(labels if labelled else None, columns, found)
    return FileBatch(features, codes, problems + (found.messages() if found.found else []))


def numbers_into(out: np.ndarray, column: pa.ChunkedArray, name: str, found: Problems) -> None:
    """A text column as float64 into ``out``, noting text, empty cells, NaN and infinities."""
    text = pc.utf8_trim_whitespace(column)
    empty = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER, ignore_case=True), False)
    out[:] = pc.cast(pc.if_else(numeric, text, None), pa.float64()).to_numpy(zero_copy_only=False)
    is_number = numeric.to_numpy(zero_copy_only=False)
    found.add(name, ~is_number & ~empty, "are not numbers", column.to_numpy(zero_copy_only=False))
    found.add(name, empty | np.isnan(out) & is_number, "are empty or NaN")
    found.add(name, np.isinf(out), "are infinite", out)
