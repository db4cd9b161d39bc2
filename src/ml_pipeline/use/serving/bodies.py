"""A scoring request's body as an Arrow table: the bodies MLflow's scoring server takes (JSON with one of
``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``; or CSV with a header), so that an
MLflow client works unchanged. The rows are then checked like any batch (validation.check_rows)."""

from __future__ import annotations

import io

import msgspec
import numpy as np
import pyarrow as pa
from pyarrow import csv as arrow_csv

from ml_pipeline.basics.declaration_rules import normalise

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CSV_TYPES = ("text/csv", "application/csv")
EXAMPLE = '{"dataframe_split": {"columns": ["mean_radius", ...], "data": [[17.99, ...]]}}'


class RequestRefused(Exception):
    """A request that cannot be scored: its HTTP status and what is wrong with it."""

    def __init__(self, status: int, problems: list[str]):
        super().__init__("; ".join(problems))
        self.status, self.problems = status, problems


def request_table(body: bytes, content_type: str | None, max_rows: int, features=()) -> pa.Table:
    """The request's rows (RequestRefused if the body is no table, or holds more than ``max_rows``);
    a CSV's columns named like one of ``features`` are read as numbers straight away."""
    if (content_type or "").split(";")[0].strip().lower() in CSV_TYPES:
        table = _csv_table(body, features)
    else:
        table = _json_table(body)
    if table.num_rows > max_rows:
        raise RequestRefused(
            413,
            [
                f"the request holds {table.num_rows} rows, and one request may hold at most {max_rows} "
                "(ML_PIPELINE_SERVE_MAX_ROWS): send them in smaller requests"
            ],
        )
    return table


def _csv_table(body: bytes, features) -> pa.Table:
    wanted = set(features)
    header = body.split(b"\n", 1)[0].decode("utf-8", "replace").strip("\r\ufeff").split(",")
    numbers = arrow_csv.ConvertOptions(
        column_types={name: pa.float64() for name in header if normalise(name) in wanted}
    )
    try:
        try:
            return arrow_csv.read_csv(io.BytesIO(body), convert_options=numbers)
        except pa.ArrowInvalid:  # text where a number belongs: read as it is, for the check to name it
            return arrow_csv.read_csv(io.BytesIO(body))
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        reason = " ".join(str(error).split())[:300]
        raise RequestRefused(400, [f"the body is not CSV with a header row: {reason}"]) from None


def _json_table(body: bytes) -> pa.Table:
    try:
        payload = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise RequestRefused(
            400,
            [
                f"the body is not JSON ({error}); send JSON (Content-Type: application/json), such as "
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
        return _split_table(rows)
    if isinstance(rows, dict) and given[0] != "dataframe_records":
        return _columns_table(rows)
    if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
        return _records_table(rows)
    raise RequestRefused(
        400,
        [
            f"{given[0]} must be a list of rows, each an object of column names and values"
            + (" or an object of columns" if given[0] != "dataframe_records" else "")
            + "; rows without column names go in dataframe_split, with its columns"
        ],
    )


def _split_table(split) -> pa.Table:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise RequestRefused(400, ['dataframe_split must be an object with "columns" and "data"'])
    columns, data = split["columns"], split.get("data")
    if not all(isinstance(name, str) for name in columns):
        raise RequestRefused(400, ["dataframe_split's columns must be names (text)"])
    if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
        raise RequestRefused(400, ["dataframe_split's data must be a list of rows, each a list of values"])
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
    try:  # numbers only, the usual request: one conversion of the whole
        numbers = np.array(data, dtype=np.float64).reshape(len(data), len(columns))
        return _table(columns, list(numbers.T))
    except (TypeError, ValueError):  # text or nulls among them: per column, for the check to name them
        return _table(columns, list(zip(*data, strict=True)) if data else [[] for _ in columns])


def _records_table(records: list[dict]) -> pa.Table:
    names = list(dict.fromkeys(name for record in records for name in record))
    return _table(names, [[record.get(name) for record in records] for name in names])


def _columns_table(columns: dict) -> pa.Table:
    values = [value if isinstance(value, list) else [value] for value in columns.values()]
    if len({len(column) for column in values}) > 1:
        lengths = ", ".join(f"{name} {len(column)}" for name, column in zip(columns, values, strict=True))
        raise RequestRefused(400, [f"the columns hold different numbers of values: {lengths[:300]}"])
    return _table(list(columns), values)


def _table(names: list[str], values: list) -> pa.Table:
    if len(set(names)) != len(names):
        raise RequestRefused(400, ["a column is named twice"])
    return pa.table({name: _array(column) for name, column in zip(names, values, strict=True)})


def _array(values) -> pa.Array:
    """A column as Arrow infers it, or as text where its values are of mixed kinds (the check then names
    the cells that are not numbers)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if value is None else str(value) for value in values], pa.string())


def _kind(value) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null"
    )
