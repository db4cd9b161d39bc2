"""The training window read from its days' hand-off files a block of rows at a time, as often as a task
needs, instead of held whole: a CV task then holds its folds' projections and not also the rows they
come from (at 1,000,000 rows of 30 features, 230 MiB).

``open_window_files`` checks each day's file once (its schema and its rows' count and labels), keeps
its labels, and keeps the file open: a file another run removes meanwhile stays readable to this task. A
file in an object store is copied to a local folder first; a day without a good file is read from
PostgreSQL, its file written for the next task and a local copy kept for this one.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import ipc

from ml_pipeline.basics.datasets import Dataset
from ml_pipeline.basics.storage import is_local
from ml_pipeline.data_in.batch_store import load_batches
from ml_pipeline.data_in.handoff import SUFFIX, batch_path, schema, write_blocks, write_quietly

log = logging.getLogger(__name__)


class WindowFiles:
    """The window's feature matrix as open Arrow files: its ``shape`` and length, its rows read by
    ``blocks``, and ``[rows]`` (a slice, or ascending row numbers) a new array of those rows. One thread
    reads it at a time (it keeps the record batch last read)."""

    ndim = 2

    def __init__(self, opened: list[tuple], labels: np.ndarray, n_features: int):
        """``opened``: each file's open source, its reader and its record batches' row counts, in order."""
        self._sources = [source for source, _, _ in opened]
        self._pieces = [(reader, index) for _, reader, sizes in opened for index in range(len(sizes))]
        sizes = [size for _, _, counts in opened for size in counts]
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.labels = labels
        self.shape = (len(labels), n_features)
        self._cached: tuple[int, np.ndarray | None] = (-1, None)

    def __len__(self) -> int:
        return self.shape[0]

    def __enter__(self) -> WindowFiles:
        return self

    def __exit__(self, *_) -> None:
        self._cached = (-1, None)
        for source in self._sources:
            source.close()

    def __getitem__(self, rows: slice | np.ndarray) -> np.ndarray:
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(len(self)))
        rows = np.asarray(rows)
        return next(self.blocks(rows, len(rows))) if len(rows) else np.empty((0, self.shape[1]))

    def blocks(self, rows: np.ndarray, size: int):
        """The features of ``rows`` (ascending), ``size`` rows at a time: each block a new array equal to
        ``matrix[rows[first : first + size]]``, so that callers may work in it."""
        rows = np.asarray(rows)
        if rows.dtype == bool or np.any(np.diff(rows) <= 0):
            raise ValueError("WindowFiles reads rows by their numbers, in ascending order only")
        for first in range(0, len(rows), size):
            wanted = rows[first : first + size]
            block = np.empty((len(wanted), self.shape[1]))
            pieces = np.searchsorted(self._starts, wanted, side="right") - 1
            for piece in np.unique(pieces):
                taken = pieces == piece
                block[taken] = self._piece(piece)[wanted[taken] - self._starts[piece]]
            yield block

    def _piece(self, piece: int) -> np.ndarray:
        """One record batch's features (rows ascending: each is read once per pass over the rows)."""
        if self._cached[0] != piece:
            self._cached = (-1, None)  # the last one freed before the next is read
            reader, index = self._pieces[piece]
            values = reader.get_batch(index).column("features").values.to_numpy(zero_copy_only=True)
            self._cached = (piece, values.reshape(-1, self.shape[1]))
        return self._cached[1]


def open_window_files(connection, root, dataset: Dataset, days: list[tuple[date, int, str]], folder: Path):
    """The window's days (each date, its rows and fingerprint, in order) as ``WindowFiles``: local files
    opened where they are, others copied into ``folder`` (which must outlast the ``WindowFiles``)."""
    opened, labels = [], []
    width = len(dataset.features)
    try:
        for batch_date, rows, sha256 in days:
            path, copy = batch_path(root, dataset, batch_date, sha256), folder / batch_date.isoformat()
            day = _opened_day(path, rows, width, copy)
            if day is None:
                log.info("%s is not in the hand-off: reading the %s batch from PostgreSQL", path, batch_date)
                stored = load_batches(connection, dataset, batch_date, batch_date + timedelta(days=1))
                write_quietly(root, dataset, stored, batch_date, sha256)
                # The file just written, if local; else (a store, or no file) a copy of this task's own.
                day = _opened_day(path, rows, width, copy) if is_local(path) else None
                day = day or _opened_day(_written(stored, copy), rows, width, copy)
                del stored
            opened.append(day[0])
            labels.append(day[1])
    except BaseException:
        for source, _, _ in opened:
            source.close()
        raise
    return WindowFiles(opened, np.concatenate(labels), width)


def _written(batch, copy: Path) -> Path:
    """The rows as a local file of this task's own, where the hand-off could not take them."""
    local = copy.with_name(f"{copy.name}-stored{SUFFIX}")
    with pa.OSFile(str(local), "wb") as sink:
        write_blocks(sink, batch)
    return local


def _opened_day(path, rows: int, n_features: int, copy: Path) -> tuple | None:
    """The day's file opened ((source, reader, record batch sizes), labels), or None if it is missing,
    damaged or of another shape; a file in an object store copied to ``copy`` first. Read once through,
    a record batch at a time."""
    try:
        if isinstance(path, Path) or is_local(path):
            local = str(path if isinstance(path, Path) else path.path)
        else:
            local = str(copy.with_name(f"{copy.name}-{path.name}"))
            path.fs.get_file(path.path, local)
        source = pa.OSFile(local)
    except FileNotFoundError:
        return None
    except Exception as error:  # a store that fails: PostgreSQL has the rows
        log.warning("Could not read %s (%s): reading the rows from PostgreSQL", path, error)
        return None
    try:
        reader = ipc.open_file(source)
        if reader.schema != schema(n_features):
            raise ValueError(f"its columns are {reader.schema}")
        sizes, labels = [], []
        for index in range(reader.num_record_batches):
            block = reader.get_batch(index)
            sizes.append(block.num_rows)
            labels.append(block.column("label").to_numpy(zero_copy_only=True).copy())
        if sum(sizes) != rows:
            raise ValueError(f"it holds {sum(sizes)} rows, not {rows}")
    except Exception as error:  # a damaged file is read around, not trusted
        source.close()
        log.warning("Could not read %s (%s): reading the rows from PostgreSQL", path, error)
        return None
    return (source, reader, sizes), np.concatenate(labels) if labels else np.empty(0, dtype=np.int8)
