"""Where things are in a batch file, by its physical lines (blank lines counted), for the messages that
name them; a file is scanned in blocks, so a huge line costs no more memory than a block."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np


def compressed(path: Path) -> bool:
    """Whether the file is gzip's, by its name (``.gz``, ``.GZ``)."""
    return path.suffix.lower() == ".gz"


def open_text(path: Path):
    """The file's bytes, decompressed if it ends in .gz."""
    return gzip.open(path, "rb") if compressed(path) else open(path, "rb")


def first_non_utf8_line(path: Path) -> str:
    with open_text(path) as stream:
        for number, line in enumerate(stream, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return (
                    f"not UTF-8 text at line {number}: byte 0x{line[error.start]:02x} at column "
                    f"{error.start + 1} (text in another encoding); save the file as UTF-8 CSV"
                )
    return "not UTF-8 text; save the file as UTF-8 CSV"


def physical_lines(path: Path, records: np.ndarray) -> dict[int, int]:
    """The file line (blank lines counted) of each data record index in ``records``.

    A record is a non-blank line (Arrow reads no line breaks inside values); the header is the first.
    The file is scanned in blocks, so a huge line costs no more memory than a block.
    """
    wanted = np.unique(np.asarray(records, dtype=np.int64))
    found: dict[int, int] = {}
    lines_before, records_before, carried = 0, -2, 0  # the header is record -1, the first data row 0
    with open_text(path) as stream:
        while chunk := stream.read(1 << 24):
            data = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(data == 10)
            # What makes a line not blank: any byte but the line break, a carriage return or a BOM's.
            visible = np.cumsum(~np.isin(data, (10, 13, 0xEF, 0xBB, 0xBF)))
            content = np.diff(visible[ends], prepend=0)
            if not len(ends):
                carried += int(visible[-1])
                continue
            content[0] += carried
            carried = int(visible[-1] - visible[ends[-1]])
            record_of_line = records_before + np.cumsum(content > 0)
            for record in wanted[(wanted > records_before) & (wanted <= record_of_line[-1])]:
                first = np.flatnonzero((record_of_line == record) & (content > 0))[0]
                found[int(record)] = lines_before + int(first) + 1
            lines_before += len(ends)
            records_before = int(record_of_line[-1])
    if carried and records_before + 1 in wanted:  # a last line with no line break
        found[records_before + 1] = lines_before + 1
    return found


def quoted_lines(path: Path, records: np.ndarray) -> dict[int, int]:
    """``physical_lines`` of a file whose quoted cells may hold line breaks: a record's first line, as
    Python's csv module reads the records."""
    wanted, found, record = {int(r) for r in records}, {}, -2
    with open_text(path) as stream, io.TextIOWrapper(stream, "utf-8-sig", "replace", newline="") as text:
        reader = csv.reader(text)
        try:
            while wanted - found.keys():
                start = reader.line_num + 1
                if (row := next(reader, None)) is None:
                    break
                record += bool(row)  # a blank line is no record
                if row and record in wanted:
                    found[record] = start
        except csv.Error:  # a cell past csv's size limit: the lines found so far
            pass
    return found


def file_lines(path: Path, quoted: bool = False) -> Callable[[np.ndarray], dict[int, str]]:
    """Where each record is, as ``line N``; ``quoted``: the file's cells may hold line breaks."""
    lines = quoted_lines if quoted else physical_lines
    return lambda records: {record: f"line {line}" for record, line in lines(path, records).items()}
