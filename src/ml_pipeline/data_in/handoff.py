"""Each stored batch written once more, as an Arrow IPC file, for the tasks that read the training window.

PostgreSQL stays the record of the batch: ``fetch_batch`` stores it there, then writes
``<handoff>/<dataset>/<date>/<data_sha256>.arrow`` (the folder of the ``handoff_dir`` setting: a local
folder, or an object store every worker reaches). A task that needs the window reads these files
instead of the rows through PostgreSQL's row protocol, at the speed of the disk (or the store), a block
of rows at a time as often as it needs them, never holding them whole (``window_files``). Each block's
features are one fixed-size list column, row after row, as the training steps read them.

A day whose file is missing (a worker on another machine with a local hand-off, a batch stored before
hand-off files existed) or does not match the stored row count is read from PostgreSQL and its file
written then. When a run replaces a date's batch, the date's other files go (``publish``). Old days'
folders may be deleted at will: a task that needs one reads the day from PostgreSQL, and writes it again.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import ipc

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import Dataset
from ml_pipeline.basics.files import atomic_writer
from ml_pipeline.basics.storage import is_local, storage_path

log = logging.getLogger(__name__)
SUFFIX = ".arrow"
BLOCK_ROWS = 65536


def handoff_root(config: PipelineConfig):
    """The hand-off folder as an ``ObjectStoragePath``: ``handoff_dir``, else ``handoff`` in data_dir."""
    if config.handoff_dir:
        return storage_path(config.handoff_dir, config.handoff_conn_id)
    return storage_path(config.data_dir.rstrip("/") + "/handoff", config.data_conn_id)


def day_folder(root, dataset: Dataset, batch_date: date):
    return root / dataset.name / batch_date.isoformat()


def batch_path(root, dataset: Dataset, batch_date: date, sha256: str):
    return day_folder(root, dataset, batch_date) / f"{sha256}{SUFFIX}"


def record_batches(batch: Batch, rows: int = BLOCK_ROWS):
    """The batch as Arrow record batches of ``rows`` rows: each block's features, row-major, as one
    fixed-size list column (a block-sized copy when the batch's features are column-major)."""
    for first in range(0, max(len(batch), 1), rows):
        features = np.ascontiguousarray(batch.features[first : first + rows], dtype=np.float64)
        values = pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), features.shape[1])
        labels = pa.array(np.asarray(batch.labels[first : first + rows], dtype=np.int8))
        yield pa.record_batch({"features": values, "label": labels})


def schema(n_features: int) -> pa.Schema:
    return pa.schema({"features": pa.list_(pa.float64(), n_features), "label": pa.int8()})


def write_batch(root, dataset: Dataset, batch: Batch, batch_date: date, sha256: str, replace: bool = False):
    """The batch's file, written unless it is there already (its name is its content's fingerprint) or
    ``replace`` says the file there cannot be read.

    Arrow writes it a block at a time, to a local file: renamed into place, or uploaded to the store,
    so the file appears whole or not at all."""
    path = batch_path(root, dataset, batch_date, sha256)
    if not replace and path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_local(path):
        with atomic_writer(Path(path.path)) as sink:
            write_blocks(sink, batch)
    else:
        with tempfile.NamedTemporaryFile(suffix=SUFFIX) as staged:
            write_blocks(staged, batch)
            staged.flush()
            path.fs.put_file(staged.name, path.path)
    return path


def write_blocks(sink, batch: Batch) -> None:
    with ipc.new_file(sink, schema(batch.features.shape[1])) as writer:
        for block in record_batches(batch):
            writer.write_batch(block)


def publish(
    config: PipelineConfig, dataset: Dataset, batch: Batch, batch_date: date, sha256: str, run_id: str
) -> None:
    """The stored batch's file written, once ``fetch_batch`` has stored the batch; then the date's other
    files removed (the replaced batch's, what other runs left there, and this run's own unless it stored
    the same rows again, as a cleared fetch_batch does). The hand-off only saves time: if the store
    cannot be written, the tasks read PostgreSQL and the log says why."""
    root = handoff_root(config)
    try:
        same_rows = batch_path(root, dataset, batch_date, sha256).exists()
        write_batch(root, dataset, batch, batch_date, sha256)
        kept = {f"{sha256}{SUFFIX}"} | (
            {run_folder(root, dataset, batch_date, run_id).name} if same_rows else set()
        )
        _remove_except(day_folder(root, dataset, batch_date), kept)
    except Exception as error:  # any store's failure: the rows are in PostgreSQL anyway
        log.warning(
            "The hand-off of the %s batch failed (%s): tasks read it from PostgreSQL", batch_date, error
        )


def write_bytes(path, data: bytes) -> None:
    """``data`` as the file ``path``, whole or not at all."""
    if is_local(path):
        with atomic_writer(Path(path.path)) as sink:
            sink.write(data)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _remove_except(folder, kept: set[str]) -> None:
    if not folder.exists():
        return
    for entry in folder.iterdir():
        if entry.name not in kept:
            _remove(entry)


def _remove(entry) -> None:
    if is_local(entry):
        shutil.rmtree(entry.path) if entry.is_dir() else os.unlink(entry.path)
    else:
        entry.rmdir(recursive=True) if entry.is_dir() else entry.unlink()


def run_folder(root, dataset: Dataset, run_date: date, run_id: str):
    """Where a run keeps what its tasks share besides the rows (the folds' projections), under its
    date: removed with the date's batch when another run replaces it."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return day_folder(root, dataset, run_date) / f"run_{safe}"


def write_quietly(root, dataset: Dataset, batch: Batch, batch_date: date, sha256: str) -> None:
    """Write the day's file again (it was missing or could not be read), or say why not: the rows are
    read from PostgreSQL either way."""
    try:
        write_batch(root, dataset, batch, batch_date, sha256, replace=True)
    except Exception as error:  # any store's failure: the rows are in hand
        log.warning("Could not write the hand-off file of %s (%s)", batch_date, error)
