"""The batch rules for one column or one block of rows, as the one check (``source_table``) applies them to
every source's rows.

The expected columns (``Columns``) and the header matched to them after folding case, spaces and
punctuation (`Mean Radius` is `mean_radius`), in any order. Feature cells must be numbers (numeric
text is fine; `true`, text, empty, NaN and infinite are not); labels must be one of the classes (`1.0`
is the class `1`). Every problem is named with its column, how many rows, and the first row and value,
each echoed value cut short.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ml_pipeline.basics.declaration_rules import normalise

SHOWN_CHARS = 40  # longest value echoed in a message
# Beyond this a feature's square, summed over the rows, overflows: no standardisation, no model.
LARGEST = 1e100
TOO_LARGE = f"are beyond ±{LARGEST:g}, too large to standardise"
NUMBER_TYPES = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string)
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
                labels = pc.cast(labels, pa.float64(), safe=False)  # 2**64 - 1 is no class either
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


def shown(value) -> str:
    text = str(value)
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…")


def check_regular_file(path: Path) -> None:
    """FileRejected unless ``path`` is a regular file of its own (not a link, folder or pipe)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise FileRejected([f"there is no file {path}"]) from None
    except PermissionError:
        raise FileRejected(
            [f"the folder {path.parent} cannot be read by the user the pipeline runs as (uid {os.getuid()}): "
             "permission denied; make it readable and searchable (chmod a+rx)"]
        ) from None  # fmt: skip
    if stat.S_ISLNK(info.st_mode):
        problem = "a symbolic link" if os.path.exists(path) else "a symbolic link that leads nowhere"
        raise FileRejected(
            [f"{path.name} is {problem}: only regular files are read; copy the file in instead"]
        )
    if stat.S_ISDIR(info.st_mode):
        raise FileRejected([f"{path.name} is a folder, not a file"])
    if not stat.S_ISREG(info.st_mode):
        raise FileRejected([f"{path.name} is not a regular file (a pipe, socket or device)"])
    try:
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        raise FileRejected(
            [f"{path.name} cannot be read by the user the pipeline runs as (uid {os.getuid()}): permission "
             "denied; make it readable (chmod a+r) and send it again"]
        ) from None  # fmt: skip


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
    """What a batch holds: features in the declared order, class indices (None if unlabelled)."""

    features: np.ndarray
    codes: np.ndarray | None
    problems: list[str]


class Problems:
    """Problems found per column, each with its count and first record, gathered block by block of
    rows; ``place`` names where records are (physical lines of a file, looked up once at the end, or
    rows of a table). Messages come in the order of ``columns``, then of ``KINDS``."""

    KINDS = ("are not numbers", "are empty or NaN", "are infinite", "are beyond", "are empty", "hold a value")

    def __init__(self, place: Callable[[np.ndarray], dict[int, str]], columns: tuple[str, ...] = ()):
        self.place, self.columns, self.found = place, columns, {}

    def add(self, column: str, mask: np.ndarray, what: str, values=None, start: int = 0) -> None:
        """Note the rows of ``mask`` (the block of rows from record ``start`` on) as ``what``."""
        if not mask.any():
            return
        if (column, what) in self.found:  # an earlier block had the first one
            self.found[column, what][0] += int(mask.sum())
            return
        first = int(np.flatnonzero(mask)[0])
        value = None if values is None else values[first]
        self.found[column, what] = [int(mask.sum()), start + first, value]

    def shifted(self, offset: int) -> Problems:
        """These problems, their records ``offset`` further on."""
        moved = Problems(self.place, self.columns)
        moved.found = {
            key: [count, first + offset, value] for key, (count, first, value) in self.found.items()
        }
        return moved

    def merge(self, later: Problems) -> None:
        """Add what ``later`` found in the rows after these."""
        for key, (count, first, value) in later.found.items():
            if key in self.found:
                self.found[key][0] += count
            else:
                self.found[key] = [count, first, value]

    def messages(self) -> list[str]:
        order = sorted(self.found, key=lambda found: (self._rank(found[0]), self._kind(found[1])))
        places = self.place(np.array([self.found[key][1] for key in order]))
        return [
            f"column {column!r}: {count} row(s) {what} (first at {places.get(first, '?')}"
            + ("" if value is None else f": {_number(value) if isinstance(value, float) else shown(value)}")
            + ")"
            for (column, what), (count, first, value) in ((key, self.found[key]) for key in order)
        ]

    def _rank(self, column: str) -> int:
        return self.columns.index(column) if column in self.columns else len(self.columns)

    def _kind(self, what: str) -> int:
        return next((rank for rank, kind in enumerate(self.KINDS) if what.startswith(kind)), len(self.KINDS))


def table_rows(records: np.ndarray) -> dict[int, str]:
    return {int(record): f"row {int(record) + 1}" for record in records}


def _number(value: float):
    """``value`` as a file would write it: ``7`` for 7.0, ``1e+308`` for 1e308."""
    return int(value) if value.is_integer() and abs(value) < 1e16 else value


def label_type_fits(column_type: pa.DataType) -> bool:
    """Whether a label column of this type can hold classes: numbers, text, their categories, or none."""
    if pa.types.is_dictionary(column_type):
        column_type = column_type.value_type
    kinds = (pa.types.is_null, *NUMBER_TYPES, *TEXT_TYPES)
    return any(is_type(column_type) for is_type in kinds)


def label_codes_of(labels: pa.Array, columns: Columns, found: Problems, start: int = 0) -> np.ndarray:
    """Each label's class index; empty labels and labels that are no class are noted in ``found``."""
    if pa.types.is_dictionary(labels.type):  # a Parquet file's categories
        labels = labels.dictionary_decode()
    if pa.types.is_null(labels.type):  # a column with no value at all
        labels = labels.cast(pa.string())
    codes, unknown = columns.label_codes(pa.chunked_array([labels]))
    empty = labels.is_null().to_numpy(zero_copy_only=False)
    found.add(columns.label, empty, "are empty", start=start)
    classes = ", ".join(map(str, columns.classes))
    found.add(
        columns.label, unknown & ~empty, f"hold a value that is not a class ({classes})",
        labels.to_numpy(zero_copy_only=False), start,
    )  # fmt: skip
    return codes


def numbers_of(column: pa.Array, out: np.ndarray, name: str, found: Problems, start: int) -> None:
    """A block of a column's numbers into ``out`` (text parsed as numbers), noting the cells that are
    none; a column of another type is left for the check to name."""
    if pa.types.is_dictionary(column.type):  # a Parquet file's categories of numbers
        column = column.dictionary_decode()
    if pa.types.is_float64(column.type):
        out[:] = column.to_numpy(zero_copy_only=False)
    elif any(is_type(column.type) for is_type in NUMBER_TYPES):
        out[:] = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)  # 2**62 as float
    else:
        if any(is_type(column.type) for is_type in TEXT_TYPES):
            numbers_into(out, column, name, found, start)
        return
    if not -LARGEST <= out.min() <= out.max() <= LARGEST:  # NaN compares false: two passes, no copy
        found.add(name, np.isnan(out), "are empty or NaN", start=start)
        found.add(name, np.isinf(out), "are infinite", out, start)
        found.add(name, np.isfinite(out) & (np.abs(out) > LARGEST), TOO_LARGE, out, start)


def numbers_into(out: np.ndarray, column: pa.Array, name: str, found: Problems, start: int = 0) -> None:
    """A text column as float64 into ``out``, noting text, empty cells, NaN, infinities and numbers too
    large to standardise."""
    text = pc.utf8_trim_whitespace(column)
    empty = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER, ignore_case=True), False)
    out[:] = pc.cast(pc.if_else(numeric, text, None), pa.float64()).to_numpy(zero_copy_only=False)
    is_number = numeric.to_numpy(zero_copy_only=False)
    found.add(name, ~is_number & ~empty, "are not numbers", column.to_numpy(zero_copy_only=False), start)
    found.add(name, empty | np.isnan(out) & is_number, "are empty or NaN", start=start)
    found.add(name, np.isinf(out), "are infinite", out, start)
    found.add(name, np.isfinite(out) & (np.abs(out) > LARGEST), TOO_LARGE, out, start)
