"""A dataset declared from a sample of its daily file: `python -m ml_pipeline declare NAME --from FILE
--label COLUMN [--key COLUMN]` writes ``datasets/NAME.toml`` with the file's numeric columns as the
features, the label's values as the classes, and the file's drop folder as the source."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv
from pyarrow import parquet

from ml_pipeline.basics.datasets import DatasetError, load
from ml_pipeline.basics.declaration_rules import NAME, RESERVED_COLUMNS, normalise

MAX_CLASSES = 100  # more distinct labels than this is a number, not a class


def read_sample(path: Path) -> pa.Table:
    """The sample file as Arrow reads it, types inferred (CSV, CSV.gz or Parquet)."""
    if not path.is_file():
        raise DatasetError(f"There is no file {path} to declare a dataset from.")
    try:
        return parquet.read_table(path) if path.name.endswith(".parquet") else arrow_csv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise DatasetError(f"{path} cannot be read as a CSV or Parquet file: {error}") from None


def column_named(table: pa.Table, wanted: str, role: str) -> str:
    """The table's column that ``wanted`` names once both are folded as the batch reader folds them."""
    for name in table.column_names:
        if normalise(name) == normalise(wanted):
            return name
    near = difflib.get_close_matches(wanted, table.column_names, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise DatasetError(
        f"The file has no {role} column {wanted!r}{hint}; its columns: {', '.join(table.column_names)}."
    )


def classes_of(column: pa.ChunkedArray) -> list:
    """The label's distinct values, as integers when every one is a whole number, else as text."""
    values = pc.unique(column.drop_null()).to_pylist()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return sorted(values)
    texts = sorted({str(v).strip() for v in values} - {""})
    if all(text.lstrip("-").isdigit() for text in texts):
        return sorted(int(text) for text in texts)
    return texts


def declaration(name: str, table: pa.Table, label: str, key: str | None) -> tuple[str, list[str]]:
    """The declaration's TOML text and what was left out of it; DatasetError naming every problem."""
    problems, skipped, features = [], [], []
    if not NAME.match(name):
        problems.append(
            f"{name!r} is not a dataset name: lower-case letters, digits and _, starting with a letter"
        )
    label_column = column_named(table, label, "label")
    key_column = column_named(table, key, "key") if key else None
    for column in table.column_names:
        if column in (label_column, key_column):
            continue
        folded = normalise(column)
        kind = table.schema.field(column).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
            skipped.append(f"{column!r} ({kind}: features are numbers)")
        elif not NAME.match(folded) or folded in RESERVED_COLUMNS:
            problems.append(
                f"column {column!r} folds to {folded!r}, not a usable column name: rename it in the file"
            )
        else:
            features.append(folded)
    classes = classes_of(table.column(label_column))
    if not 2 <= len(classes) <= MAX_CLASSES:
        problems.append(
            f"the label {label_column!r} has {len(classes)} distinct values, "
            f"where a class label has 2 to {MAX_CLASSES}"
        )
    if not features:
        problems.append("the file has no numeric column to use as a feature")
    if problems:
        raise DatasetError(f"Cannot declare {name} from the file: " + "; ".join(problems) + ".")
    lines = [
        f"# Declared from a sample file ({table.num_rows} rows) by `python -m ml_pipeline declare`.",
        f"description = {json.dumps(f'{name}: {len(features)} features, {len(classes)} classes')}",
        f"features = {json.dumps(features)}",
        f"label = {json.dumps(normalise(label_column))}",
        f"classes = {json.dumps(classes)}",
        *([f"key = {json.dumps(normalise(key_column))}"] if key_column else []),
        "",
        "[source]",
        'kind = "drop_folder"',
        f"folder = {json.dumps(f'incoming/{name}')}",
    ]
    return "\n".join(lines) + "\n", skipped


def declare(
    datasets_dir: str | Path, name: str, sample: Path, label: str, key: str | None, force: bool
) -> str:
    """Write ``datasets_dir/NAME.toml`` from ``sample`` and check it loads; what to tell the user."""
    target = Path(datasets_dir) / f"{name}.toml"
    if target.exists() and not force:
        raise DatasetError(f"{target} exists already: choose another name, or add --force to replace it.")
    text, skipped = declaration(name, read_sample(sample), label, key)
    target.write_text(text)
    try:
        dataset = load(datasets_dir, name)
    except DatasetError:
        target.unlink()  # no declaration left behind that would fail every run
        raise
    told = [
        f"Declared {name} in {target}: {len(dataset.features)} features, classes {list(dataset.classes)}"
        + (f", key {dataset.key}" if dataset.key else "")
        + ".",
        f"Drop each day's file in the data folder's {dataset.source.folder}/ as <YYYY-MM-DD>.csv "
        f"(or .csv.gz, .parquet); its DAG ml_pipeline_{name} starts paused.",
    ]
    if skipped:
        told.append(
            "Left out: "
            + ", ".join(skipped)
            + ". Each day's file may hold only the features, the label"
            + (" and the key" if dataset.key else "")
            + ": leave these columns out of it."
        )
    return "\n".join(told)
