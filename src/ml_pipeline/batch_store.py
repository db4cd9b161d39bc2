"""Loading a batch into PostgreSQL with binary COPY, replacing the date's previous batch.

PostgreSQL's binary COPY format is fixed-width for these columns, so the whole payload is built
as one NumPy structured array: no per-row Python, no float-to-text formatting.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np

from ml_pipeline.batch import Batch
from ml_pipeline.columns import FEATURE_COLUMNS
from ml_pipeline.db import sql

log = logging.getLogger(__name__)

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
POSTGRES_EPOCH = date(2000, 1, 1)


def _row_layout() -> np.dtype:
    """One row of batch_rows in binary COPY format: a field count, then (size, value) per column."""
    layout = [("field_count", ">i2"), ("date_size", ">i4"), ("date", ">i4")]
    layout += [("row_id_size", ">i4"), ("row_id", ">i4")]
    for index in range(len(FEATURE_COLUMNS)):
        layout += [(f"size_{index}", ">i4"), (f"value_{index}", ">f8")]
    layout += [("label_size", ">i4"), ("label", ">i2")]
    return np.dtype(layout)


def copy_payload(batch: Batch, batch_date: date, rows_per_chunk: int = 8192) -> Iterator[bytes]:
    """The batch's rows as a binary COPY stream for copy_batch_rows.sql's column list, in chunks.

    Chunks keep the payload's memory small, and let PostgreSQL store one chunk while the next is built.
    """
    if batch.feature_names != FEATURE_COLUMNS:
        missing = sorted(set(FEATURE_COLUMNS) - set(batch.feature_names))
        extra = sorted(set(batch.feature_names) - set(FEATURE_COLUMNS))
        raise ValueError(
            "The batch's columns differ from the batch_rows table: "
            f"missing {missing or 'none'}, unexpected {extra or 'none'} "
            "(the order must be that of the breast-cancer table)."
        )
    layout = _row_layout()
    yield COPY_SIGNATURE
    for first in range(0, len(batch), rows_per_chunk):
        last = min(first + rows_per_chunk, len(batch))
        rows = np.empty(last - first, dtype=layout)
        rows["field_count"] = len(FEATURE_COLUMNS) + 3
        rows["date_size"], rows["date"] = 4, (batch_date - POSTGRES_EPOCH).days
        rows["row_id_size"], rows["row_id"] = 4, np.arange(first, last, dtype=np.int32)
        features = np.asarray(batch.features[first:last], dtype=np.float64)
        for index in range(len(FEATURE_COLUMNS)):
            rows[f"size_{index}"], rows[f"value_{index}"] = 8, features[:, index]
        rows["label_size"], rows["label"] = 2, batch.labels[first:last]
        yield rows.tobytes()
    yield COPY_TRAILER


def replace_batch(
    connection, batch: Batch, batch_date: date, dag_run_id: str, source: str, sha256: str | None = None
) -> int:
    """Store ``batch`` as the batch of ``batch_date`` in one transaction; return the row count.

    Either the old batch stays whole or the new one is stored whole: a failure midway rolls back.
    ``sha256`` is the batch's fingerprint if the caller has it already.
    """
    payload = copy_payload(batch, batch_date)
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(sql("delete_batch"), {"batch_date": batch_date})
        cursor.execute(
            sql("insert_batch"),
            {
                "batch_date": batch_date,
                "dag_run_id": dag_run_id,
                "source": source,
                "row_count": len(batch),
                "positive_count": int(np.count_nonzero(batch.labels)),
                "data_sha256": sha256 or batch.sha256(),
            },
        )
        with cursor.copy(sql("copy_batch_rows")) as copy:
            for chunk in payload:
                copy.write(chunk)
        return cursor.rowcount


def load_batches(connection, first_date: date, before_date: date) -> Batch:
    """The stored rows of the batches from ``first_date`` up to, not including, ``before_date``."""
    payload = bytearray()
    with connection.transaction(), connection.cursor() as cursor:
        params = {"first_date": first_date, "before_date": before_date}
        with cursor.copy(sql("copy_batch_window"), params) as copy:
            for chunk in copy:
                payload += chunk
    rows = np.frombuffer(payload, dtype=_row_layout(), offset=len(COPY_SIGNATURE), count=_row_count(payload))
    features = np.column_stack([rows[f"value_{index}"] for index in range(len(FEATURE_COLUMNS))])
    return Batch(features.astype(np.float64), rows["label"].astype(np.int8), FEATURE_COLUMNS)


def with_earlier_days(connection, today: Batch, run_date: date, days: int) -> Batch:
    """The stored batches of the ``days - 1`` days before ``run_date``, then ``today``'s batch."""
    first_date = run_date - timedelta(days=days - 1)
    earlier = load_batches(connection, first_date, run_date)
    log.info("Training on %d stored rows from %s on, plus today's %d", len(earlier), first_date, len(today))
    return Batch(
        np.concatenate([earlier.features, today.features]),
        np.concatenate([earlier.labels, today.labels]),
        today.feature_names,
    )


def _row_count(payload: bytes) -> int:
    body = len(payload) - len(COPY_SIGNATURE) - len(COPY_TRAILER)
    return body // _row_layout().itemsize
