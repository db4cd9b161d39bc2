"""Reading a batch file strictly, with Apache Arrow's CSV reader (`.csv`, `.csv.gz`).

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
import difflib
import gzip
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv

HEAD_BYTES = 1 << 16  # the header must end within this; the first checks read no more
BLOCK_BYTES = 1 << 22  # Arrow's parse block
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

    def label_codes(self, labels: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """Each label's class index (0, 1, ...), and a mask of labels that are no class."""
        text = pc.utf8_trim_whitespace(labels.cast(pa.string()))
        codes = np.full(len(text), -1, dtype=np.int8)
        if all(isinstance(c, int) for c in self.classes):  # `1`, `1.0` and ` 1 ` are the class 1
            numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER, ignore_case=True), False)
            values = pc.cast(pc.if_else(numeric, text, None), pa.float64()).to_numpy(zero_copy_only=False)
            for index, label in enumerate(self.classes):
                codes[values == label] = index
        else:
            for index, label in enumerate(self.classes):
                codes[pc.fill_null(pc.equal(text, str(label)), False).to_numpy(zero_copy_only=False)] = index
        return codes, codes < 0


def normalise(name: str) -> str:
    """A column name folded: lower case, runs of spaces and punctuation made one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def shown(value) -> str:
    text = str(value)
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…")


def check_regular_file(path: Path) -> int:
    """The file's size, or FileRejected if ``path`` is not a regular file of its own."""
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
    return info.st_size


def open_text(path: Path):
    """The file's bytes, decompressed if it ends in .gz."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


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


def match_header(names: list[str], columns: Columns, labelled: bool) -> tuple[list[str], list[str]]:
    """The header's names made the expected ones (unknown names kept as they are), and its problems."""
    expected = {normalise(name): name for name in (*columns.features, columns.label)}
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


def read_table(path: Path, names: list[str], feature_columns: Sequence[str]) -> pa.Table:
    """The data rows as an Arrow table: features as float64 if every cell is a number, else as text."""
    invalid: list = []

    def on_invalid_row(row) -> str:
        invalid.append(row)
        return "skip"

    options = {
        "read_options": arrow_csv.ReadOptions(column_names=names, skip_rows=1, block_size=BLOCK_BYTES),
        "parse_options": arrow_csv.ParseOptions(invalid_row_handler=on_invalid_row),
    }
    typed = [name for name in names if name in feature_columns]
    try:
        table = arrow_csv.read_csv(
            path,
            convert_options=arrow_csv.ConvertOptions(
                column_types={name: (pa.float64() if name in typed else pa.string()) for name in names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
            memory_pool=pa.system_memory_pool(),  # freed columns go back to the system at once
            **options,
        )
    except pa.ArrowInvalid as error:
        if "conversion error" not in str(error):
            raise FileRejected([f"not a readable CSV table: {shown(error)}"]) from None
        invalid.clear()
        table = arrow_csv.read_csv(
            path,
            convert_options=arrow_csv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=True
            ),
            memory_pool=pa.system_memory_pool(),
            **options,
        )
    if invalid:
        record = first_invalid_record(path, names)
        line = physical_lines(path, np.array([record])).get(record, "?")
        # The rows no longer line up with the header: their values are not checked until this is fixed.
        raise FileRejected(
            [
                f"{len(invalid)} row(s) do not have the header's {len(names)} fields (first at line {line}, "
                f"{invalid[0].actual_columns} fields: {shown(invalid[0].text)}); every row needs one value "
                "per column"
            ]
        )
    return table


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


@dataclass
class FileBatch:
    """What a batch file holds: features in the declared order, class indices (None if unlabelled)."""

    features: np.ndarray
    codes: np.ndarray | None
    problems: list[str]
    records: int


class _Problems:
    """Problems found per column, each with its first data record; lines are looked up at the end."""

    def __init__(self, path: Path):
        self.path, self.found = path, []

    def add(self, column: str, mask: np.ndarray, what: str, values=None) -> None:
        if mask.any():
            first = int(np.flatnonzero(mask)[0])
            value = None if values is None else values[first]
            self.found.append((column, int(mask.sum()), first, what, value))

    def messages(self) -> list[str]:
        lines = physical_lines(self.path, np.array([first for _, _, first, _, _ in self.found]))
        return [
            f"column {column!r}: {count} row(s) {what} (first at line {lines.get(first, '?')}"
            + ("" if value is None else f": {value if isinstance(value, float) else shown(value)}")
            + ")"
            for column, count, first, what, value in self.found
        ]


def read_batch_file(path: Path, columns: Columns, labelled: bool = True) -> FileBatch:
    """The batch in ``path``; raises FileRejected for what stops reading, else returns the problems."""
    check_regular_file(path)
    names, problems = match_header(read_header(path), columns, labelled)
    table = read_table(path, names, columns.features)
    if table.num_rows == 0:
        raise FileRejected([*problems, "no data rows: the file has a header only"])
    found = _Problems(path)
    features = np.empty((table.num_rows, len(columns.features)))
    for index, name in enumerate(columns.features):
        if name in table.column_names:
            features[:, index] = _numbers(table.column(name), name, found)
            table = table.drop_columns([name])  # its memory goes back before the next column is read
    codes = None
    if labelled and columns.label in table.column_names:
        labels = table.column(columns.label)
        codes, unknown = columns.label_codes(labels)
        empty = labels.is_null().to_numpy(zero_copy_only=False)
        found.add(columns.label, empty, "are empty")
        text = labels.to_numpy(zero_copy_only=False)
        found.add(
            columns.label, unknown & ~empty,
            f"hold a value that is not a class ({', '.join(map(str, columns.classes))})", text,
        )  # fmt: skip
    return FileBatch(
        features, codes, problems + found.messages() if found.found else problems, table.num_rows
    )


def _numbers(column: pa.ChunkedArray, name: str, found: _Problems) -> np.ndarray:
    """The column as float64, noting text, empty cells, NaN and infinities."""
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)  # empty cells are null, and so NaN here
        found.add(name, np.isnan(values), "are empty or NaN")
        found.add(name, np.isinf(values), "are infinite", values)
        return values
    text = pc.utf8_trim_whitespace(column)
    empty = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER, ignore_case=True), False)
    values = pc.cast(pc.if_else(numeric, text, None), pa.float64()).to_numpy(zero_copy_only=False)
    raw = column.to_numpy(zero_copy_only=False)
    found.add(name, ~numeric.to_numpy(zero_copy_only=False) & ~empty, "are not numbers", raw)
    found.add(name, empty | np.isnan(values) & numeric.to_numpy(zero_copy_only=False), "are empty or NaN")
    found.add(name, np.isinf(values), "are infinite", values)
    return values
