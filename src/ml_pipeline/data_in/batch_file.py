"""Reading a batch file strictly, with Apache Arrow's CSV reader (`.csv`, `.csv.gz`), and checking an
Arrow table (a Parquet file, a SQL query's result) by the same rules.

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
import io
import os
import re
import stat
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from pyarrow import parquet

from ml_pipeline.basics.config import available_cores

HEAD_BYTES = 1 << 16  # the header must end within this; the first checks read no more
BLOCK_BYTES = 1 << 21  # Arrow's parse block
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
                labels = pc.cast(labels, pa.float64())
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


def normalise(name: str) -> str:
    """A column name folded: lower case, runs of spaces and punctuation made one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def shown(value) -> str:
    text = str(value)
    return repr(text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…")


def check_regular_file(path: Path) -> None:
    """FileRejected unless ``path`` is a regular file of its own (not a link, folder or pipe)."""
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
        raise FileRejected([_first_non_utf8_line(rows.path)]) from None


def _first_non_utf8_line(path: Path) -> str:
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


class _Problems:
    """Problems found per column, each with its first record; ``place`` names where records are
    (physical lines of a file, looked up once at the end, or rows of a table)."""

    def __init__(self, place: Callable[[np.ndarray], dict[int, str]]):
        self.place, self.found = place, []

    def add(self, column: str, mask: np.ndarray, what: str, values=None) -> None:
        if mask.any():
            first = int(np.flatnonzero(mask)[0])
            value = None if values is None else values[first]
            self.found.append((column, int(mask.sum()), first, what, value))

    def messages(self) -> list[str]:
        places = self.place(np.array([first for _, _, first, _, _ in self.found]))
        return [
            f"column {column!r}: {count} row(s) {what} (first at {places.get(first, '?')}"
            + ("" if value is None else f": {_number(value) if isinstance(value, float) else shown(value)}")
            + ")"
            for column, count, first, what, value in self.found
        ]


def file_lines(path: Path) -> Callable[[np.ndarray], dict[int, str]]:
    return lambda records: {record: f"line {line}" for record, line in physical_lines(path, records).items()}


def table_rows(records: np.ndarray) -> dict[int, str]:
    return {int(record): f"row {int(record) + 1}" for record in records}


def _number(value: float):
    return int(value) if value.is_integer() else value


def read_batch_file(path: Path, columns: Columns, labelled: bool = True) -> FileBatch:
    """The batch in ``path``; raises FileRejected for what stops reading, else returns the problems."""
    check_regular_file(path)
    names, problems = match_header(read_header(path), columns, labelled)
    rows = _Rows(path, names)
    numbers = [*columns.features, columns.label] if columns.numeric_labels else list(columns.features)
    found = _Problems(file_lines(path))
    read = stream_numbers(rows, columns, numbers)
    rows.check_field_counts()
    if read is None:  # some cell is not a number: read again as text to name every such cell
        rows.invalid.clear()
        table = read_text_table(rows)
        rows.check_field_counts()
        features = np.empty((table.num_rows, len(columns.features)), order="F")
        for index, name in enumerate(columns.features):
            if name in table.column_names:
                _numbers_into(features[:, index], table.column(name), name, found)
        labels = table.column(columns.label) if columns.label in table.column_names else None
    else:
        features, labels = read
        for index, name in enumerate(columns.features):
            if name in names and not np.isfinite(features[:, index]).all():
                found.add(name, np.isnan(features[:, index]), "are empty or NaN")
                found.add(name, np.isinf(features[:, index]), "are infinite", features[:, index])
    if len(features) == 0:
        raise FileRejected([*problems, "no data rows: the file has a header only"])
    codes = _label_codes(labels if labelled else None, columns, found)
    return FileBatch(features, codes, problems + (found.messages() if found.found else []))


def _label_codes(labels: pa.ChunkedArray | None, columns: Columns, found: _Problems) -> np.ndarray | None:
    """Each label's class index; empty labels and labels that are no class are noted in ``found``."""
    if labels is None:
        return None
    codes, unknown = columns.label_codes(labels)
    empty = labels.is_null().to_numpy(zero_copy_only=False)
    found.add(columns.label, empty, "are empty")
    classes = ", ".join(map(str, columns.classes))
    found.add(
        columns.label, unknown & ~empty, f"hold a value that is not a class ({classes})",
        labels.to_numpy(zero_copy_only=False),
    )  # fmt: skip
    return codes


def read_parquet_file(path: Path, columns: Columns, labelled: bool = True) -> FileBatch:
    """The batch in a Parquet file, checked like a table (see ``check_table``)."""
    check_regular_file(path)
    try:
        table = parquet.read_table(path)
    except (pa.ArrowInvalid, OSError) as error:
        # Arrow's own reason, without the path it puts first (the refusal names the file already).
        reason = re.sub(r"^Could not open Parquet input source '.*?': ", "", str(error), flags=re.S)
        raise FileRejected([f"not a readable Parquet file: {reason[:300]}"]) from None
    return check_table(table, columns, labelled)


def check_table(table: pa.Table, columns: Columns, labelled: bool = True) -> FileBatch:
    """A table's columns (matched like a CSV header) as the batch: numeric or numeric-text features,
    labels among the classes. Problems name the column, the count, and the first row and value."""
    names, problems = match_header(table.column_names, columns, labelled)
    table = table.rename_columns(names)
    if table.num_rows == 0:
        raise FileRejected([*problems, "no data rows"])
    found = _Problems(table_rows)
    features = np.empty((table.num_rows, len(columns.features)), order="F")
    for index, name in enumerate(columns.features):
        if name not in table.column_names:
            continue
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            _numbers_into(features[:, index], column, name, found)
        elif (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_decimal(column.type)
        ):
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
            features[:, index] = values
            found.add(name, np.isnan(values), "are empty or NaN")
            found.add(name, np.isinf(values), "are infinite", values)
        else:
            problems.append(f"column {name!r} holds {column.type} values, not numbers")
    labels = table.column(columns.label) if columns.label in table.column_names else None
    codes = _label_codes(labels if labelled else None, columns, found)
    return FileBatch(features, codes, problems + (found.messages() if found.found else []))


def _numbers_into(out: np.ndarray, column: pa.ChunkedArray, name: str, found: _Problems) -> None:
    """A text column as float64 into ``out``, noting text, empty cells, NaN and infinities."""
    text = pc.utf8_trim_whitespace(column)
    empty = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    numeric = pc.fill_null(pc.match_substring_regex(text, NUMBER, ignore_case=True), False)
    out[:] = pc.cast(pc.if_else(numeric, text, None), pa.float64()).to_numpy(zero_copy_only=False)
    is_number = numeric.to_numpy(zero_copy_only=False)
    found.add(name, ~is_number & ~empty, "are not numbers", column.to_numpy(zero_copy_only=False))
    found.add(name, empty | np.isnan(out) & is_number, "are empty or NaN")
    found.add(name, np.isinf(out), "are infinite", out)
