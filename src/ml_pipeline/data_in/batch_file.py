"""Reading a batch file strictly into an Arrow table, with Apache Arrow's CSV reader (`.csv`, `.csv.gz`);
the table is then checked like every source's (``table_check``), its problems placed at physical lines.

Only a regular file is read (not a link, a folder, a pipe), UTF-8, comma-separated, and every data row
must have as many fields as the header. Nothing is parsed beyond what the file needs: the columns that
must hold numbers go straight into float64, and only a file where one holds text is read again, as
text, for the check to name each such cell.
"""

from __future__ import annotations

import csv
import io
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import csv as arrow_csv

from ml_pipeline.basics.declaration_rules import normalise
from ml_pipeline.data_in.file_lines import (
    compressed,
    file_lines,
    first_non_utf8_line,
    open_text,
    physical_lines,
)
from ml_pipeline.data_in.source_table import NotNumbers, SourceTable
from ml_pipeline.data_in.table_check import Columns, FileRejected, check_regular_file, shown

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
    try:
        decoded = first_line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as error:
        raise FileRejected(
            [
                f"not UTF-8 text: byte 0x{first_line[error.start]:02x} at offset {error.start} "
                "(a binary file, or text in another encoding); save the file as UTF-8 CSV"
            ]
        ) from None
    if b"\r" in first_line.rstrip(b"\r"):
        raise FileRejected(
            ["the lines end in a carriage return alone (CR, an old Mac format); save the file with LF or "
             "CRLF line ends"]
        )  # fmt: skip
    if not first_line.strip():
        blank = len(text) - len(text.lstrip(b" \t\r\n"))
        lines = text[:blank].count(b"\n")
        raise FileRejected(
            [f"the file starts with {lines} blank line(s) before its header: remove them, for the header "
             "to be line 1"]
        )  # fmt: skip
    if not newline and len(head) > HEAD_BYTES:
        raise FileRejected([f"the first line is longer than {HEAD_BYTES:,} bytes: not a CSV header"])
    names = next(csv.reader([decoded]))
    if len(names) == 1 and decoded.count(";") >= 2:
        raise FileRejected(["the columns are separated by semicolons; save the file with commas (,) instead"])
    return names


class CsvRows(SourceTable):
    """A CSV file's rows, parsed as the check takes them: a plain file cut at line breaks into one part
    per core, each read block by block on its own thread straight into the batch (sized by estimate:
    untouched pages cost nothing). The columns that must hold numbers are read as float64; if one holds
    text, the file is read again with every column as text, for the check to name each such cell."""

    def __init__(self, path: Path, columns: Columns):
        check_regular_file(path)
        self.path, self.invalid, self.text = path, [], False
        header = read_header(path)
        with open_text(path) as stream:  # quoted cells may hold line breaks: then Arrow reads them whole
            self.quoted = b'"' in stream.read(HEAD_BYTES)
        numbers = {normalise(name) for name in columns.features}
        if columns.numeric_labels:
            numbers.add(normalise(columns.label))
        empty = [pa.array([], pa.float64() if normalise(name) in numbers else pa.string()) for name in header]
        super().__init__(
            pa.Table.from_arrays(empty, names=header), str(path), file_lines(path, self.quoted),
            "no data rows: the file has a header only",
        )  # fmt: skip

    def options(self, start: int = 0) -> dict:
        def on_invalid_row(row) -> str:
            self.invalid.append(row)
            return "skip"

        schema = self.table.schema
        types = {name: pa.string() if self.text else schema.field(name).type for name in schema.names}
        return {
            "read_options": arrow_csv.ReadOptions(
                column_names=schema.names, skip_rows=0 if start else 1, block_size=BLOCK_BYTES,
                use_threads=start is None,
            ),
            "parse_options": arrow_csv.ParseOptions(
                invalid_row_handler=on_invalid_row, newlines_in_values=self.quoted
            ),
            "convert_options": arrow_csv.ConvertOptions(
                column_types=types,
                null_values=[""], strings_can_be_null=True, quoted_strings_can_be_null=True,
            ),
        }  # fmt: skip

    def take_parts(self, parts: int) -> list[tuple[int, Iterator[pa.RecordBatch]]]:
        if self.text:
            try:
                with open_text(self.path) as stream:
                    self.table = arrow_csv.read_csv(stream, **self.options(None))
            except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as error:
                if not header_only(error):
                    raise self._unreadable(error) from None
            return super().take_parts(parts)
        ranges = byte_ranges(self.path, 1 if self.quoted else parts)  # no cut inside a quoted cell
        # A single part is the whole file: its size is gzip's uncompressed one where it applies.
        return [
            (estimated_rows(self.path, len(self.table.schema), None if len(ranges) == 1 else end - start),
             self._blocks(start, end))
            for start, end in ranges
        ]  # fmt: skip

    def _blocks(self, start: int, end: int) -> Iterator[pa.RecordBatch]:
        try:
            with open_text(self.path) as stream:
                source = stream if compressed(self.path) else _ByteRange(stream, start, end)
                yield from arrow_csv.open_csv(source, **self.options(start))
        except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as error:
            if not header_only(error):
                raise self._unreadable(error) from None

    def _unreadable(self, error: Exception) -> Exception:
        """What a reading error means for the user, or NotNumbers: a column read as numbers holds text."""
        if not isinstance(error, pa.ArrowInvalid):  # a gzip file cut short or corrupt, a failing disk
            return FileRejected([f"not a readable {'gzip ' if compressed(self.path) else ''}file: {error}"])
        if "conversion error" in str(error) and not self.text:
            return NotNumbers()
        if "UTF8" in str(error):
            return FileRejected([first_non_utf8_line(self.path)])
        if "straddl" in str(error):
            return FileRejected([f"a line is longer than {BLOCK_BYTES:,} bytes: not a batch row"])
        return FileRejected([f"not a readable CSV table: {shown(error)}"])

    def as_text(self) -> None:
        self.invalid.clear()
        self.text = True

    def finish(self) -> None:
        """FileRejected if rows have another field count than the header: the rows no longer line up
        with it, so their values are not checked until this is fixed."""
        if not self.invalid:
            return
        names = self.table.schema.names
        record = first_invalid_record(self.path, names)
        line = physical_lines(self.path, np.array([record])).get(record, "?")
        first = self.invalid[0]
        raise FileRejected(
            [
                f"{len(self.invalid)} row(s) do not have the header's {len(names)} fields (first at "
                f"line {line}, {first.actual_columns} fields: {shown(first.text)}); every row needs one "
                "value per column"
            ]
        )


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


def header_only(error: Exception) -> bool:
    """Whether Arrow could not read past the header because there is nothing after it, not even a line
    break: the check then finds no rows, as in a file whose header ends its line."""
    return isinstance(error, pa.ArrowInvalid) and "Could not skip initial" in str(error)


def byte_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """The file cut into about ``parts`` ranges of whole lines (a gzip file stays one)."""
    size = path.stat().st_size
    if compressed(path) or parts < 2 or size < 8 * BLOCK_BYTES:
        return [(0, size)]
    cuts = [0]
    with open(path, "rb") as stream:
        for part in range(1, parts):
            stream.seek(max(cuts[-1], size * part // parts))
            stream.readline()
            if stream.tell() < size:
                cuts.append(stream.tell())
    return list(zip(cuts, [*cuts[1:], size], strict=True))


def estimated_rows(path: Path, columns: int, size: int | None = None) -> int:
    """Rows the file (or ``size`` bytes of it) holds, from the first lines' length; gzip's size is the
    uncompressed one. Never more than the bytes allow (a row has a comma per column), nor than half
    this machine's memory holds: a short estimate only costs a copy."""
    with open_text(path) as stream:
        head = stream.read(HEAD_BYTES)
    size = path.stat().st_size if size is None else size
    if compressed(path) and size >= 4:
        with open(path, "rb") as stream:
            stream.seek(-4, os.SEEK_END)
            size = max(size, int.from_bytes(stream.read(4), "little"))  # gzip's ISIZE field
    bytes_per_line = max(1, len(head) // max(1, head.count(b"\n")))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    return min(int(size / bytes_per_line * 1.1) + 1024, size // columns + 1, memory // (8 * columns))


def first_invalid_record(path: Path, names: list[str]) -> int:
    """The data record index of the first row with another field count (Arrow numbers rows only
    when it reads on one thread; it counts the header as row 1)."""
    numbers: list[int] = []

    def on_invalid_row(row) -> str:
        numbers.append(row.number)
        return "skip"

    with open_text(path) as stream:
        arrow_csv.read_csv(
            stream,
            read_options=arrow_csv.ReadOptions(
                column_names=names, skip_rows=1, block_size=BLOCK_BYTES, use_threads=False
            ),
            parse_options=arrow_csv.ParseOptions(invalid_row_handler=on_invalid_row, newlines_in_values=True),
            convert_options=arrow_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
    return numbers[0] - 2
