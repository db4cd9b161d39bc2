"""A scoring request's body as an Arrow table: the bodies MLflow's scoring server takes (JSON with one of
``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``; or CSV with a header), so that an
MLflow client works unchanged. The rows are then checked like any batch (validation.check_rows).

A request's shape is bounded before anything is built of it: no more rows than the limit, no more columns
than the dataset's features, label and key; a feature column is read as numbers, any other as text."""

from __future__ import annotations

import csv
import io

import msgspec
import numpy as np
import pyarrow as pa
from pyarrow import csv as arrow_csv

from ml_pipeline.basics.declaration_rules import normalise
from ml_pipeline.data_in.table_check import Columns

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CSV_TYPES = ("text/csv", "application/csv")
EXAMPLE = '{"dataframe_split": {"columns": ["mean_radius", ...], "data": [[17.99, ...]]}}'


class RequestRefused(Exception):
    """A request that cannot be scored: its HTTP status and what is wrong with it."""

    def __init__(self, status: int, problems: list[str]):
        super().__init__("; ".join(problems))
        self.status, self.problems = status, problems


class _Numbers(msgspec.Struct):
    columns: list[str]
    data: list[list[float]]  # JSON numbers only: no flag, text, null or list passes as one
    index: list | None = None


class _SplitOfNumbers(msgspec.Struct, forbid_unknown_fields=True):
    """The usual request, decoded straight into numbers: a dataframe_split of numbers alone."""

    dataframe_split: _Numbers
    params: dict | None = None


class Shape:
    """What a request of one dataset may hold: at most ``max_rows`` rows, and no columns but its own."""

    def __init__(self, columns: Columns, max_rows: int):
        self.columns, self.max_rows = columns, max_rows
        self.features = set(columns.features)
        self.most_columns = len(columns.features) + 1 + bool(columns.key)  # with the label and the key

    def rows(self, count: int) -> None:
        if count > self.max_rows:
            raise RequestRefused(
                413,
                [
                    f"the request holds {count} rows, and one request may hold at most {self.max_rows} "
                    "(ML_PIPELINE_SERVE_MAX_ROWS): send them in smaller requests"
                ],
            )

    def nesting(self, body: bytes) -> None:
        """No more JSON lists and objects than a request of at most max_rows rows needs (one per row, one
        per column, a few around them): a decoded list costs some 60 times its bytes."""
        opened, most = body.count(b"[") + body.count(b"{"), self.max_rows + self.most_columns + 8
        if opened > most:
            raise RequestRefused(
                413,
                [
                    f"the body holds {opened} JSON lists and objects, more than {most}, which requests of at "
                    f"most {self.max_rows} rows (ML_PIPELINE_SERVE_MAX_ROWS) need: send fewer rows per "
                    "request, and one value per cell"
                ],
            )

    def names(self, names: list) -> list:
        if len(names) > self.most_columns:
            raise RequestRefused(
                400,
                [
                    f"the request has {len(names)} columns; the dataset has {len(self.columns.features)} "
                    f"features, its label {self.columns.label!r}"
                    + (f" and its key {self.columns.key!r}" if self.columns.key else "")
                    + ", and no other column is read"
                ],
            )
        return names

    def holds_key(self, names: list[str]) -> bool:
        return bool(self.columns.key) and any(normalise(name) == self.columns.key for name in names)


def request_table(body: bytes, content_type: str | None, shape: Shape) -> pa.Table:
    """The request's rows (RequestRefused if the body is no table of the dataset's shape)."""
    if (content_type or "").split(";")[0].strip().lower() in CSV_TYPES:
        table = _csv_table(body, shape)
    else:
        shape.nesting(body)
        table = _numbers_table(body, shape) or _json_table(body, shape)
    shape.rows(table.num_rows)
    return table


def _csv_table(body: bytes, shape: Shape) -> pa.Table:
    try:
        header = next(csv.reader([body.split(b"\n", 1)[0].decode("utf-8").lstrip("\ufeff")]), [])
    except UnicodeDecodeError:
        raise RequestRefused(400, ["the CSV's header row is not UTF-8 text"]) from None
    shape.names(header)
    # As the batch reader does: features as numbers, any other column (the key) as the text it is.
    text = {name: pa.string() for name in header if normalise(name) not in shape.features}
    numbers = {name: pa.float64() for name in header if normalise(name) in shape.features}
    try:
        try:
            return _read_csv(body, text | numbers)
        except pa.ArrowInvalid:  # text where a number belongs: read as it is, for the check to name it
            return _read_csv(body, text)
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())[:300]
        raise RequestRefused(400, [f"the body is not CSV with a header row: {reason}"]) from None


def _read_csv(body: bytes, types: dict) -> pa.Table:
    return arrow_csv.read_csv(io.BytesIO(body), convert_options=arrow_csv.ConvertOptions(column_types=types))


def _numbers_table(body: bytes, shape: Shape) -> pa.Table | None:
    """A dataframe_split of numbers alone, in one conversion; None for any other body (or one with the
    key, which stays text), which the general reading then takes."""
    try:
        split = msgspec.json.decode(body, type=_SplitOfNumbers).dataframe_split
    except (msgspec.DecodeError, RecursionError):
        return None
    if shape.holds_key(split.columns) or any(len(row) != len(split.columns) for row in split.data):
        return None
    shape.names(split.columns)
    shape.rows(len(split.data))
    numbers = np.array(split.data, dtype=np.float64).reshape(len(split.data), len(split.columns))
    return _table(split.columns, list(numbers.T))


def _json_table(body: bytes, shape: Shape) -> pa.Table:
    try:
        payload = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise RequestRefused(
            400,
            [
                f"the body is not JSON ({reason}); send JSON (Content-Type: application/json), such as "
                f"{EXAMPLE}, or CSV with a header (Content-Type: text/csv)"
            ],
        ) from None
    if not isinstance(payload, dict):
        raise RequestRefused(400, [f"the body is a JSON {_kind(payload)}, not an object like {EXAMPLE}"])
    given = [name for name in FORMATS if name in payload]
    others = sorted(set(payload) - {*FORMATS, "params"})
    if len(given) != 1 or others:
        raise RequestRefused(
            400,
            [
                f"the body names {', '.join(map(repr, [*given, *others])) or 'nothing'}; it must hold "
                f"exactly one of {', '.join(FORMATS)} (and nothing else but params)"
            ],
        )
    if payload.get("params"):
        raise RequestRefused(400, ["this model takes no params: leave params out"])
    rows = payload[given[0]]
    if given[0] == "dataframe_split":
        return _split_table(rows, shape)
    if isinstance(rows, dict) and given[0] != "dataframe_records":
        return _columns_table(rows, shape)
    if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
        return _records_table(rows, shape)
    raise RequestRefused(
        400,
        [
            f"{given[0]} must be a list of rows, each an object of column names and values"
            + (" or an object of columns" if given[0] != "dataframe_records" else "")
            + "; rows without column names go in dataframe_split, with its columns"
        ],
    )


def _split_table(split, shape: Shape) -> pa.Table:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise RequestRefused(400, ['dataframe_split must be an object with "columns" and "data"'])
    columns, data = shape.names(split["columns"]), split.get("data")
    if not all(isinstance(name, str) for name in columns):
        raise RequestRefused(400, ["dataframe_split's columns must be names (text)"])
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise RequestRefused(400, ["dataframe_split's data must be a list of rows, each a list of values"])
    shape.rows(len(data))
    widths = [index for index, row in enumerate(data) if len(row) != len(columns)]
    if widths:
        first = widths[0]
        raise RequestRefused(
            400,
            [
                f"{len(widths)} row(s) of dataframe_split's data do not hold one value per column: row "
                f"{first + 1} has {len(data[first])} values for {len(columns)} columns"
            ],
        )
    return _table(columns, list(zip(*data, strict=True)) if data else [[] for _ in columns])


def _records_table(records: list[dict], shape: Shape) -> pa.Table:
    shape.rows(len(records))
    names = []
    for record in records:  # the names in the order first met, bounded as they are met
        names += [name for name in record if name not in names]
        shape.names(names)
    return _table(names, [[record.get(name) for record in records] for name in names])


def _columns_table(columns: dict, shape: Shape) -> pa.Table:
    shape.names(list(columns))
    values = [value if isinstance(value, list) else [value] for value in columns.values()]
    if len({len(column) for column in values}) > 1:
        lengths = ", ".join(f"{name} {len(column)}" for name, column in zip(columns, values, strict=True))
        raise RequestRefused(400, [f"the columns hold different numbers of values: {lengths[:300]}"])
    shape.rows(len(values[0]) if values else 0)
    return _table(list(columns), values)


def _table(names: list[str], values: list) -> pa.Table:
    if len(set(names)) != len(names):
        raise RequestRefused(400, ["a column is named twice"])
    return pa.table({name: _array(name, column) for name, column in zip(names, values, strict=True)})


NUMBERS = {int, float, type(None)}


def _array(name: str, values) -> pa.Array:
    """A column as Arrow reads it when its values are all numbers, all flags or all text; else as text
    (flags among numbers), for the check to name each cell that is not a number. A cell holding a list
    or an object is refused here: a cell is one value."""
    if isinstance(values, np.ndarray):
        return pa.array(values)
    kinds = {type(value) for value in values}
    if kinds & {list, dict}:
        row = next(index for index, value in enumerate(values) if isinstance(value, (list, dict)))
        raise RequestRefused(
            400, [f"column {name!r}, row {row + 1}: a {_kind(values[row])} where one value belongs"]
        )
    if kinds <= NUMBERS or kinds <= {bool, type(None)} or kinds <= {str, type(None)}:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # an integer beyond 64 bits
            pass
    return pa.array([_text(value) for value in values], pa.string())


def _text(value) -> str | None:
    """A cell as JSON wrote it: ``true`` for a flag, the digits of an integer however long."""
    if value is None:
        return None
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _kind(value) -> str:
    kinds = {list: "list", dict: "object", str: "string", int: "number", float: "number", bool: "boolean"}
    return kinds.get(type(value), "null")
