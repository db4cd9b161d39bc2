"""The one check of a batch's rows, whatever their source: every source yields its rows as Arrow record
batches (a table's, or a CSV file's as they are parsed), and ``check_table`` turns them into features
and class indices, or the named problems.

The columns are matched to the declared ones like a CSV header (``match_header``); each block of rows is
converted by ``numbers_of`` and ``label_codes_of``, a run of blocks per core, straight into the batch's
arrays; problems are gathered per column and named at their place (a file's line, a table's row).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import parquet

from ml_pipeline.basics.config import available_cores
from ml_pipeline.basics.memory import release_freed_memory
from ml_pipeline.data_in.table_check import (
    NUMBER_TYPES,
    TEXT_TYPES,
    Columns,
    FileBatch,
    FileRejected,
    Problems,
    check_regular_file,
    label_codes_of,
    label_type_fits,
    match_header,
    numbers_of,
    table_rows,
)

RELEASE_BLOCKS = 16  # a table's blocks converted between two hand-backs of their memory


class NotNumbers(Exception):
    """Raised by a source's blocks when a column read as numbers holds text: read it again as text."""


@dataclass
class SourceTable:
    """A source's rows as an Arrow table: where they came from (``origin``), how a row is named there
    (``place``: a file's physical lines, else its row number), and what to say when there is none. The
    column names as the source wrote them stay in ``names``; after the check, ``table`` holds the
    columns it did not take (a key column)."""

    table: pa.Table
    origin: str
    place: Callable[[np.ndarray], dict[int, str]] = table_rows
    no_rows: str = "no data rows"
    names: list[str] = field(init=False)

    def __post_init__(self):
        self.names = list(self.table.column_names)

    def rename(self, names: list[str]) -> None:
        self.table = self.table.rename_columns(names)

    def column_type(self, name: str) -> pa.DataType:
        return self.table.schema.field(name).type

    def take_parts(self, parts: int) -> list[tuple[int, Iterator[pa.RecordBatch]]]:
        """About ``parts`` runs of the rows, each as (its rows, its blocks), no longer held here: each
        block is freed once it has been converted, so that about one batch is in memory. A table without
        text to parse is one run: copying numbers gains little from more cores, and blocks freed on
        other threads would stay in Arrow's pool until the end."""
        if not any(is_type(_values_type(kind)) for kind in self.table.schema.types for is_type in TEXT_TYPES):
            parts = 1
        blocks = self.table.to_batches()
        self.table = self.table.slice(0, 0)
        starts = np.cumsum([0, *(block.num_rows for block in blocks)])
        cuts = np.searchsorted(starts, np.linspace(0, starts[-1], parts + 1)[1:-1])
        bounds = [0, *sorted(set(cuts.tolist()) - {0, len(blocks)}), len(blocks)]
        return [(int(starts[b] - starts[a]), _handed(blocks[a:b])) for a, b in itertools.pairwise(bounds)]

    def as_text(self) -> None:
        raise AssertionError("a table's columns are read once, with their own types")

    def finish(self) -> None:
        """What a source checks once every block is read (a file's field counts)."""


def read_parquet_table(path: Path) -> SourceTable:
    """The rows of a Parquet file."""
    check_regular_file(path)
    try:
        table = parquet.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        # Arrow's own reason, without the path it puts first (the refusal names the file already).
        reason = re.sub(r"^Could not open Parquet input source '.*?': ", "", str(error), flags=re.S)
        reason = reason.strip().splitlines()[0] if reason.strip() else reason
        raise FileRejected([f"not a readable Parquet file: {reason[:300]}"]) from None
    return SourceTable(table, str(path))


def _values_type(column_type: pa.DataType) -> pa.DataType:
    """A column's values' type: a dictionary's (categories) are its values'."""
    return column_type.value_type if pa.types.is_dictionary(column_type) else column_type


def _handed(blocks: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A table's blocks, each let go once the next is asked for; their memory is handed back now and
    then, for the batch's arrays to take (a file's blocks, parsed as they are taken, need no such help)."""
    blocks.reverse()
    while blocks:
        yield blocks.pop()
        if len(blocks) % RELEASE_BLOCKS == 0:
            pa.default_memory_pool().release_unused()
            release_freed_memory()


def check_table(rows: SourceTable, columns: Columns, labelled: bool = True) -> FileBatch:
    """The rows' columns (matched like a CSV header) as the batch: numeric or numeric-text features,
    labels among the classes. Problems name the column, the count, and the first place and value."""
    names, problems = match_header(rows.table.column_names, columns, labelled)
    rows.rename(names)
    present = [name for name in columns.features if name in names]
    problems += [
        f"column {name!r} holds {rows.column_type(name)} values, not numbers"
        for name in present
        if not any(is_type(_values_type(rows.column_type(name))) for is_type in (*NUMBER_TYPES, *TEXT_TYPES))
    ]
    label = labelled and columns.label in names
    if label and not label_type_fits(rows.column_type(columns.label)):
        problems.append(
            f"column {columns.label!r} holds {rows.column_type(columns.label)} values: labels must be "
            "numbers or text"
        )
        label = False
    try:
        return _converted(rows, _Converter(columns, present, label, rows.place), problems)
    except NotNumbers:
        rows.as_text()
        return _converted(rows, _Converter(columns, present, label, rows.place), problems)


def _converted(rows: SourceTable, converter: _Converter, problems: list[str]) -> FileBatch:
    parts = rows.take_parts(available_cores())
    bases = np.cumsum([0, *(capacity for capacity, _ in parts)])
    converter.allocate(int(bases[-1]))
    if len(parts) == 1:  # a few rows (a request's): no threads to start
        done = [converter.convert(0, *parts[0])]
    else:
        with ThreadPoolExecutor(len(parts)) as pool:  # NumPy and Arrow let go of the GIL as they copy
            done = list(pool.map(converter.convert, bases[:-1], *zip(*parts, strict=True)))
    rows.finish()
    features, codes, found = converter.gathered(bases, done)
    rests = [block for part in done for block in part.rest]
    rows.table = pa.Table.from_batches(rests) if rests else rows.table.select(converter.rest_names)
    if len(features) == 0:
        raise FileRejected([*problems, rows.no_rows])
    return FileBatch(features, codes, problems + (found.messages() if found.found else []))


@dataclass
class _Part:
    """What one run of blocks gave: its rows (in the shared arrays from its base, or in arrays of its
    own once those were full), what it found, and the columns the check does not take."""

    count: int = 0
    own: tuple[np.ndarray, np.ndarray | None] | None = None
    found: Problems | None = None
    rest: list[pa.RecordBatch] = field(default_factory=list)


class _Converter:
    """Blocks of rows converted into the batch's features and class indices."""

    def __init__(self, columns: Columns, present: list[str], label: bool, place):
        self.columns, self.label, self.place = columns, label, place
        self.present = [(index, name) for index, name in enumerate(columns.features) if name in present]
        self.taken = {*present, *([columns.label] if label else []), columns.label}
        self.rest_names: list[str] = []

    def allocate(self, capacity: int) -> None:
        self.features = np.empty((capacity, len(self.columns.features)), order="F")
        self.codes = np.empty(capacity, dtype=np.int8) if self.label else None

    def convert(self, base: int, capacity: int, blocks: Iterator[pa.RecordBatch]) -> _Part:
        part = _Part(found=Problems(self.place, (*self.columns.features, self.columns.label)))
        features, codes = self.features[base : base + capacity], self._codes(base, capacity)
        for block in blocks:
            end = part.count + block.num_rows
            if end > len(features):  # the source's estimate was short: go on in arrays of this part's own
                features, codes = _grown(features, codes, part.count, 2 * end)
                part.own = features, codes
            for index, name in self.present:
                numbers_of(
                    block.column(name), features[part.count : end, index], name, part.found, part.count
                )
            if codes is not None:
                labels = block.column(self.columns.label)
                codes[part.count : end] = label_codes_of(labels, self.columns, part.found, part.count)
            self.rest_names = [name for name in block.schema.names if name not in self.taken]
            if self.rest_names:
                part.rest.append(block.select(self.rest_names))
            part.count, block = end, None
        return part

    def _codes(self, base: int, capacity: int) -> np.ndarray | None:
        return None if self.codes is None else self.codes[base : base + capacity]

    def gathered(self, bases: np.ndarray, parts: list[_Part]):
        """The parts' rows closed up into one run, and what they found, placed in it."""
        found, position = parts[0].found, parts[0].count
        for part in parts[1:]:
            found.merge(part.found.shifted(position))
            position += part.count
        runs = [self._run(part, base) for part, base in zip(parts, bases, strict=False)]
        if any(part.own is not None for part in parts):
            codes = None if self.codes is None else np.concatenate([codes for _, codes in runs])
            return np.asfortranarray(np.concatenate([features for features, _ in runs])), codes, found
        position = 0
        for part, base in zip(parts, bases, strict=False):
            if base != position:  # one column at a time: a small temporary
                for column in range(self.features.shape[1]):
                    moved = self.features[base : base + part.count, column]
                    self.features[position : position + part.count, column] = moved
                if self.codes is not None:
                    self.codes[position : position + part.count] = self.codes[base : base + part.count]
            position += part.count
        return self.features[:position], None if self.codes is None else self.codes[:position], found

    def _run(self, part: _Part, base: int):
        features, codes = part.own or (self.features[base:], self._codes(base, len(self.features) - base))
        return features[: part.count], None if codes is None else codes[: part.count]


def _grown(features: np.ndarray, codes: np.ndarray | None, count: int, capacity: int):
    more = np.empty((capacity, features.shape[1]), order="F")
    more[:count] = features[:count]
    if codes is None:
        return more, None
    grown = np.empty(capacity, dtype=np.int8)
    grown[:count] = codes[:count]
    return more, grown
