"""Reading a batch file strictly, with Apache Arrow's CSV reader (`.csv`, `.csv.gz`); an Arrow table is
checked by the same rules in ``table_check``.

Only a regular file is read (not a link, a folder, a pipe). Its header is matched to the expected
columns after folding case, spaces and punctuation (`Mean Radius` is `mean_radius`), in any order.
Every data row must have as many fields as the header. Feature cells must be numbers (quotes and
spaces around them are fine; `true`, text, empty, NaN and infinite are not); labels must be one of
the classes (`1.0` is the class `1`). Every problem is named with its column, how many rows, and the
first physical line and value, each echoed value cut short. Nothing is parsed beyond what the file
needs: a clean file goes straight into float64 columns, and only a file with problems is read again
to find them.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import csv as arrow_csv

from ml_pipeline.basics.config import available_cores
from ml_pipeline.data_in.file_lines import file_lines, first_non_utf8_line, open_text, physical_lines
from ml_pipeline.data_in.table_check import (
    Columns,
    FileBatch,
    FileRejected,
    Problems,
    check_regular_file,
    label_codes_of,
    match_header,
    numbers_into,
    shown,
)

HEAD_BYTES = 1 << 16  # the header must end within this; the first checks read no more
BLOCK_BYTES = 1 << 21  # Arrow's parse block


def read_header(path: Path) -> list[str]:
    """The header's names, after the first checks: not empty, UTF-8, comma-separated, a sane length."""
    with open_text(path) as stream:
        try:
            head = stream.read(HEAD_BYTES + 1)
        except (OSError, EOFError) as error:
            raise FileRejected([f"not a readable gzip file: {error}"]) from None
    text = head.removeprefix(b"\xef\xbb\xbf")
    if not text.strip():
        raise FileRejected(["the file is empty"])
    first_line, newline, _ = text.partition(b"\n")
    if not newline and len(head) > HEAD_BYTES:
        raise FileRejected([f"the first line is longer than {HEAD_BYTES:,} bytes: not a CSV header"])
    try:
        decoded = first_line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as error:
        raise FileRejected(
            [
                f"not UTF-8 text: byte 0x{first_line[error.start]:02x} at offset {error.start} "
                "(a binary file, or text in another encoding); save the file as UTF-8 CSV"
            ]
        ) from None
    names = next(csv.reader([decoded]))
    if len(names) == 1 and decoded.count(";") >= 2:
        raise FileRejected(["the columns are separated by semicolons; save the file with commas (,) instead"])
    return names


class _Rows:
    """Arrow's reading options for one file, and the rows it skipped for their field count."""

    def __init__(self, path: Path, names: list[str]):
        self.path, self.names, self.invalid = path, names, []

    def options(self, column_types: dict) -> dict:
        def on_invalid_row(row) -> str:
            self.invalid.append(row)
            return "skip"

        return {
            "read_options": arrow_csv.ReadOptions(
                column_names=self.names, skip_rows=1, block_size=BLOCK_BYTES
            ),
            "parse_options": arrow_csv.ParseOptions(invalid_row_handler=on_invalid_row),
            "convert_options": arrow_csv.ConvertOptions(
                column_types=column_types, null_values=[""], strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        }  # fmt: skip

    def check_field_counts(self) -> None:
        if not self.invalid:
            return
        record = first_invalid_record(self.path, self.names)
        line = physical_lines(self.path, np.array([record])).get(record, "?")
        first = self.invalid[0]
        # The rows no longer line up with the header: their values are not checked until this is fixed.
        raise FileRejected(
            [
                f"{len(self.invalid)} row(s) do not have the header's {len(self.names)} fields (first at "
                f"line {line}, {first.actual_columns} fields: {shown(first.text)}); every row needs one "
                "value per column"
            ]
        )


def stream_numbers(rows: _Rows, columns: Columns, numbers: Sequence[str]):
    """Features (Fortran order, in the declared order) and the label column, or None if a number
    column holds text. A plain file is cut at line breaks into one part per core, each streamed block
    by block on its own thread into its own stretch of one array (sized by estimate: untouched pages
    cost nothing); the stretches are then closed up in place. So about one batch is in memory."""
    types = {name: (pa.float64() if name in numbers else pa.string()) for name in rows.names}
    parts = byte_ranges(rows.path, available_cores())
    # A single part is the whole file: its size is gzip's uncompressed one where it applies.
    capacities = [estimated_rows(rows.path, None if len(parts) == 1 else end - start) for start, end in parts]
    bases = np.cumsum([0, *capacities[:-1]])
    features = np.empty((sum(capacities), len(columns.features)), order="F")
    try:
        with ThreadPoolExecutor(len(parts)) as pool:
            read = list(
                pool.map(
                    lambda index: _stream_part(rows, columns, types, *parts[index], features, bases[index],
                                               capacities[index]),
                    range(len(parts)),
                )
            )  # fmt: skip
    except pa.ArrowInvalid as error:
        if "conversion error" in str(error):
            return None
        if "straddl" in str(error):
            raise FileRejected([f"a line is longer than {BLOCK_BYTES:,} bytes: not a batch row"]) from None
        raise FileRejected([f"not a readable CSV table: {shown(error)}"]) from None
    total = sum(count for _, count, _ in read)
    if any(own is not None for own, _, _ in read) or total > len(features):  # an estimate was short
        features = np.concatenate(
            [own[:count] if own is not None else features[base : base + count] for (own, count, _), base in
             zip(read, bases, strict=True)]
        )  # fmt: skip
    else:
        position = 0
        for (_, count, _), base in zip(read, bases, strict=True):
            if base != position:
                for column in range(features.shape[1]):  # one column at a time: a small temporary
                    features[position : position + count, column] = features[base : base + count, column]
            position += count
    if columns.label not in rows.names:
        return features[:total], None
    labels = [chunk for _, _, part_labels in read for chunk in part_labels]
    return features[:total], pa.chunked_array(labels, type=types[columns.label])


def _stream_part(rows: _Rows, columns: Columns, types: dict, start: int, end: int, out, base, capacity):
    """The rows of bytes ``start`` to ``end`` into ``out[base:base + capacity]``, or into an array of
    their own once that is full: (that array or None, rows, labels)."""
    options = rows.options(types)
    if start > 0:  # no header in this part
        options["read_options"] = arrow_csv.ReadOptions(column_names=rows.names, block_size=BLOCK_BYTES)
    options["read_options"].use_threads = False  # the parts are the threads
    present = [(index, name) for index, name in enumerate(columns.features) if name in rows.names]
    own, labels, count = None, [], 0
    with open_text(rows.path) as stream:
        source = stream if rows.path.suffix == ".gz" else _ByteRange(stream, start, end)
        for block in arrow_csv.open_csv(source, **options):
            end_row = count + block.num_rows
            if own is None and end_row > capacity:
                own = np.empty((2 * end_row, out.shape[1]), order="F")
                own[:count] = out[base : base + count]
            elif own is not None and end_row > len(own):
                own = np.concatenate([own[:count], np.empty((end_row, out.shape[1]))]).copy(order="F")
            target = own if own is not None else out[base:]
            for index, name in present:
                target[count:end_row, index] = block.column(name).to_numpy(zero_copy_only=False)
            if columns.label in rows.names:
                labels.append(block.column(columns.label))
            count = end_row
    return own, count, labels


class _ByteRange(io.RawIOBase):
    """Bytes ``start`` to ``end`` of an open file, as a file of its own."""

    def __init__(self, stream, start: int, end: int):
        self.stream, self.left = stream, end - start
        stream.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), self.left)
        read = self.stream.readinto(memoryview(buffer)[:size]) if size else 0
        self.left -= read
        return read


def byte_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """The file cut into about ``parts`` ranges of whole lines (a gzip file stays one)."""
    size = path.stat().st_size
    if path.suffix == ".gz" or parts < 2 or size < 8 * BLOCK_BYTES:
        return [(0, size)]
    cuts = [0]
    with open(path, "rb") as stream:
        for part in range(1, parts):
            stream.seek(max(cuts[-1], size * part // parts))
            stream.readline()
            if stream.tell() < size:
                cuts.append(stream.tell())
    return list(zip(cuts, [*cuts[1:], size], strict=True))


def estimated_rows(path: Path, size: int | None = None) -> int:
    """Rows the file (or ``size`` bytes of it) holds, from the first lines' length; gzip's size is
    the uncompressed one."""
    with open_text(path) as stream:
        head = stream.read(HEAD_BYTES)
    size = path.stat().st_size if size is None else size
    if path.suffix == ".gz" and size >= 4:
        with open(path, "rb") as stream:
            stream.seek(-4, os.SEEK_END)
            size = max(size, int.from_bytes(stream.read(4), "little"))  # gzip's ISIZE field
    bytes_per_line = max(1, len(head) // max(1, head.count(b"\n")))
    return int(size / bytes_per_line * 1.1) + 1024


def read_text_table(rows: _Rows) -> pa.Table:
    """Every column as text, to find which cells are not numbers (the slow path of a bad file)."""
    try:
        return arrow_csv.read_csv(rows.path, **rows.options(dict.fromkeys(rows.names, pa.string())))
    except pa.ArrowInvalid as error:
        if "UTF8" not in str(error):
            raise
        raise FileRejected([first_non_utf8_line(rows.path)]) from None


def first_invalid_record(path: Path, names: list[str]) -> int:
    """The data record index of the first row with another field count (Arrow numbers rows only
    when it reads on one thread; it counts the header as row 1)."""
    numbers: list[int] = []

    def on_invalid_row(row) -> str:
        numbers.append(row.number)
        return "skip"

    arrow_csv.read_csv(
        path,
        read_options=arrow_csv.ReadOptions(
            column_names=names, skip_rows=1, block_size=BLOCK_BYTES, use_threads=False
        ),
        parse_options=arrow_csv.ParseOptions(invalid_row_handler=on_invalid_row),
        convert_options=arrow_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )
    return numbers[0] - 2


def read_batch_file(path: Path, columns: Columns, labelled: bool = True) -> FileBatch:
    """The batch in ``path``; raises FileRejected for what stops reading, else returns the problems."""
    check_regular_file(path)
    names, problems = match_header(read_header(path), columns, labelled)
    rows = _Rows(path, names)
    numbers = [*columns.features, columns.label] if columns.numeric_labels else list(columns.features)
    found = Problems(file_lines(path))
    read = stream_numbers(rows, columns, numbers)
    rows.check_field_counts()
    if read is None:  # some cell is not a number: read again as text to name every such cell
        rows.invalid.clear()
        table = read_text_table(rows)
        rows.check_field_counts()
        features = np.empty((table.num_rows, len(columns.features)), order="F")
        for index, name in enumerate(columns.features):
            if name in table.column_names:
                numbers_into(features[:, index], table.column(name), name, found)
        labels = table.column(columns.label) if columns.label in table.column_names else None
    else:
        features, labels = read
        for index, name in enumerate(columns.features):
            if name in names and not np.isfinite(features[:, index]).all():
                found.add(name, np.isnan(features[:, index]), "are empty or NaN")
                found.add(name, np.isinf(features[:, index]), "are infinite", features[:, index])
    if len(features) == 0:
        raise FileRejected([*problems, "no data rows: the file has a header only"])
    codes = label_codes_of(labels if labelled else None, columns, found)
    return FileBatch(features, codes, problems + (found.messages() if found.found else []))
