"""Each dataset's batches in PostgreSQL, in its own table (see ``batch_table``): loaded with binary COPY,
replacing the date's previous batch, and read back the same way.

PostgreSQL's binary COPY format is fixed-width for the feature columns, so the payload is built as
NumPy structured arrays: no per-row Python, no float-to-text formatting. A text label has the
length of its class, so the rows of each class go out as an array of their own (``row_id`` keeps
their order).
"""

from __future__ import annotations

import json
import logging
import struct
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from psycopg import sql as query

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.datasets import Dataset
from ml_pipeline.basics.db import sql
from ml_pipeline.data_in.batch_table import batch_statement, label_type
from ml_pipeline.data_in.sketch import LEVELS, feature_quantiles

log = logging.getLogger(__name__)

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)
POSTGRES_EPOCH = date(2000, 1, 1)
COPY_BLOCK_BYTES = 4 << 20


def _row_layout(n_features: int, label: str) -> np.dtype:
    """One row of a batch table in binary COPY format: a field count, then (size, value) per column."""
    layout = [("field_count", ">i2"), ("date_size", ">i4"), ("date", ">i4")]
    layout += [("row_id_size", ">i4"), ("row_id", ">i4")]
    for index in range(n_features):
        layout += [(f"size_{index}", ">i4"), (f"value_{index}", ">f8")]
    layout += [("label_size", ">i4"), ("label", label)]
    return np.dtype(layout)


def copy_payload(
    dataset: Dataset, batch: Batch, batch_date: date, rows_per_chunk: int = 8192
) -> Iterator[bytes]:
    """The batch's rows as a binary COPY stream for copy_batch_rows.sql's column list, in chunks.

    Chunks keep the payload's memory small, and let PostgreSQL store one chunk while the next is built.
    """
    if batch.feature_names != dataset.features:
        raise ValueError(
            f"The batch's columns {list(batch.feature_names)} are not dataset {dataset.name}'s "
            f"{list(dataset.features)}."
        )
    text = label_type(dataset) == "text"
    labels = [str(c).encode() for c in dataset.classes] if text else list(dataset.classes)
    layouts = [_row_layout(len(dataset.features), f"S{len(c)}" if text else ">i2") for c in labels]
    yield COPY_SIGNATURE
    for first in range(0, len(batch), rows_per_chunk):
        last = min(first + rows_per_chunk, len(batch))
        codes = np.asarray(batch.labels[first:last])
        features = np.asarray(batch.features[first:last], dtype=np.float64)
        row_ids = np.arange(first, last, dtype=np.int32)
        for code in np.unique(codes) if text else [None]:
            chosen = slice(None) if code is None else codes == code
            rows = np.empty(len(row_ids[chosen]), dtype=layouts[0 if code is None else code])
            rows["field_count"] = len(dataset.features) + 3
            rows["date_size"], rows["date"] = 4, (batch_date - POSTGRES_EPOCH).days
            rows["row_id_size"], rows["row_id"] = 4, row_ids[chosen]
            for index in range(len(dataset.features)):
                rows[f"size_{index}"], rows[f"value_{index}"] = 8, features[chosen, index]
            if code is None:
                rows["label_size"], rows["label"] = 2, np.asarray(labels, dtype=np.int16)[codes]
            else:
                rows["label_size"], rows["label"] = len(labels[code]), labels[code]
            yield rows.tobytes()
    yield COPY_TRAILER


def replace_batch(
    connection,
    dataset: Dataset,
    batch: Batch,
    batch_date: date,
    dag_run_id: str,
    source: str,
    sha256: str | None = None,
) -> int:
    """Store ``batch`` as the dataset's batch of ``batch_date``, with its quantile sketches, in one
    transaction; return the row count.

    Either the old batch stays whole or the new one is stored whole: a failure midway rolls back.
    ``sha256`` is the batch's fingerprint if the caller has it already.
    """
    payload = copy_payload(dataset, batch, batch_date)
    counts = np.bincount(np.asarray(batch.labels), minlength=len(dataset.classes))
    columns = ["batch_date", "row_id", *dataset.features, dataset.label]
    copy = batch_statement(
        "copy_batch_rows", dataset, columns=query.SQL(", ").join(map(query.Identifier, columns))
    )
    # The sketches are sorted while PostgreSQL stores the rows: the COPY mostly waits on the server.
    with (
        ThreadPoolExecutor(max_workers=1) as background,
        connection.transaction(),
        connection.cursor() as cursor,
    ):
        sketching = background.submit(feature_quantiles, batch.features)
        cursor.execute(
            batch_statement("delete_batch", dataset), {"dataset": dataset.name, "batch_date": batch_date}
        )
        cursor.execute(
            sql("insert_batch"),
            {
                "dataset": dataset.name,
                "batch_date": batch_date,
                "dag_run_id": dag_run_id,
                "source": source,
                "row_count": len(batch),
                "class_counts": json.dumps(
                    {str(c): int(n) for c, n in zip(dataset.classes, counts, strict=True)}
                ),
                "data_sha256": sha256 or batch.sha256(),
            },
        )
        with cursor.copy(copy) as stream:
            for chunk in payload:
                stream.write(chunk)
        stored = cursor.rowcount
        save_quantiles(cursor, dataset, batch_date, sketching.result())
        return stored


def save_quantiles(cursor, dataset: Dataset, batch_date: date, sketches: np.ndarray) -> None:
    """A stored batch's quantile sketches, one row per feature (replacing any earlier ones)."""
    cursor.executemany(
        sql("insert_batch_quantiles"),
        [
            {"dataset": dataset.name, "batch_date": batch_date, "feature": name, "quantiles": sketch.tolist()}
            for name, sketch in zip(dataset.features, sketches, strict=True)
        ],
    )


@dataclass(frozen=True)
class StoredBatches:
    """What the batches table knows of a range of dates without reading their rows: each batch's row
    count and quantile sketches (batches x features x quantiles), and the rows of each class in all."""

    dates: list[date]
    rows: np.ndarray
    sketches: np.ndarray
    class_counts: np.ndarray

    @property
    def weights(self) -> np.ndarray:
        """Each batch's share of the rows."""
        return self.rows / self.rows.sum()


def stored_batches(connection, dataset: Dataset, first_date: date, before_date: date) -> StoredBatches:
    """The sketches of the dataset's batches from ``first_date`` up to, not including, ``before_date``.

    A batch stored before sketches were recorded gets them now, from its rows (read once).
    """
    params = {"dataset": dataset.name, "first_date": first_date, "before_date": before_date}
    found: dict[date, dict] = {}
    with connection.transaction(), connection.cursor() as cursor:
        for batch_date, rows, counts, feature, quantiles in cursor.execute(
            sql("select_batch_quantiles"), params
        ):
            batch = found.setdefault(batch_date, {"rows": rows, "counts": counts, "sketches": {}})
            if feature is not None:
                batch["sketches"][feature] = quantiles
        for batch_date, batch in found.items():
            if set(batch["sketches"]) != set(dataset.features):
                rows = load_batches(connection, dataset, batch_date, batch_date + timedelta(days=1))
                sketches = feature_quantiles(rows.features)
                save_quantiles(cursor, dataset, batch_date, sketches)
                batch["sketches"] = dict(zip(dataset.features, sketches, strict=True))
    return StoredBatches(
        dates=list(found),
        rows=np.array([batch["rows"] for batch in found.values()], dtype=np.int64),
        sketches=np.array(
            [[batch["sketches"][name] for name in dataset.features] for batch in found.values()], dtype=float
        ).reshape(len(found), len(dataset.features), LEVELS + 1),
        class_counts=np.array(
            [sum(batch["counts"].get(str(c), 0) for batch in found.values()) for c in dataset.classes],
            dtype=np.int64,
        ),
    )


def load_batches(connection, dataset: Dataset, first_date: date, before_date: date) -> Batch:
    """The stored rows of the dataset's batches from ``first_date`` up to, not including, ``before_date``.

    The rows are parsed from the binary COPY stream as it arrives, into arrays sized beforehand: the
    batch is held once, never also as its COPY payload.
    """
    statement = batch_statement(
        "copy_batch_window",
        dataset,
        features=query.SQL(", ").join(map(query.Identifier, dataset.features)),
        label=query.Identifier(dataset.label),
    )
    layout = [("field_count", ">i2")]
    for index in range(len(dataset.features)):
        layout += [(f"size_{index}", ">i4"), (f"value_{index}", ">f8")]
    layout = np.dtype([*layout, ("label_size", ">i4"), ("label", ">i2")])
    params = {"first_date": first_date, "before_date": before_date, "classes": list(dataset.classes)}
    # A block is parsed in a second thread while the next one arrives (NumPy's copies let go of the
    # GIL): the read takes about as long as the server takes to send the rows.
    with (
        ThreadPoolExecutor(max_workers=1) as parser,
        connection.transaction(),
        connection.cursor() as cursor,
    ):
        count = cursor.execute(sql("count_batch_window"), {"dataset": dataset.name, **params}).fetchone()[0]
        features = np.empty((count, len(dataset.features)))
        labels = np.empty(count, dtype=np.int8)
        parsing: deque[Future] = deque()
        pending, filled = bytearray(), 0

        def parse_whole_rows() -> None:
            """Hand the whole rows of ``pending`` to the parser; keep a partial row for the next chunk."""
            nonlocal pending, filled
            block, pending = _whole_rows(pending, layout.itemsize)
            if filled + len(block) // layout.itemsize > count:
                raise _miscounted(dataset, first_date, before_date, count)
            if len(parsing) == 2:  # at most two blocks held at once
                parsing.popleft().result()
            parsing.append(parser.submit(_parse_block, block, layout, features, labels, filled))
            filled += len(block) // layout.itemsize

        with cursor.copy(statement, params) as copy:
            for chunk in copy:
                if not filled and not pending:
                    chunk = bytes(chunk)[len(COPY_SIGNATURE) :]
                pending += chunk
                if len(pending) >= COPY_BLOCK_BYTES:
                    parse_whole_rows()
        if pending[-len(COPY_TRAILER) :] == COPY_TRAILER:
            del pending[-len(COPY_TRAILER) :]
        parse_whole_rows()
        for block_parsed in parsing:
            block_parsed.result()
    if filled != count or pending:
        raise _miscounted(dataset, first_date, before_date, count)
    return Batch(features, labels, dataset.features)


def _miscounted(dataset: Dataset, first_date: date, before_date: date, count: int) -> RuntimeError:
    return RuntimeError(
        f"The rows of {dataset.table} from {first_date} to before {before_date} are not the {count} "
        "that the batches table records for them: a batch was stored between the two statements "
        "(read in a REPEATABLE READ transaction), or rows were changed by hand. Nothing was changed; "
        "retry, or re-run the dates concerned from fetch_batch."
    )


def _whole_rows(pending: bytearray, row_bytes: int) -> tuple[bytearray, bytearray]:
    """``pending`` cut after its last whole row: the whole rows, and the start of the next one."""
    cut = len(pending) - len(pending) % row_bytes
    rest = pending[cut:]
    del pending[cut:]
    return pending, rest


def _parse_block(block: bytearray, layout: np.dtype, features, labels, first: int) -> None:
    """Move the whole rows of ``block`` into ``features`` and ``labels`` from row ``first`` on."""
    rows = np.frombuffer(block, dtype=layout)
    end = first + len(rows)
    for index in range(features.shape[1]):
        features[first:end, index] = rows[f"value_{index}"]
    labels[first:end] = rows["label"]
