"""Datasets, each declared in one TOML file: ``datasets/<name>.toml``.

A declaration names the feature columns (numbers), the label column and its classes (integers or
strings), where each day's batch comes from, and optionally the batch table, the schedule and a
description. Only the standard library (and, for a cron schedule, Airflow's cron parser) is imported:
the DAG files read the declarations when they are parsed, to make one DAG per dataset.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.basics.bundled_tables import BUNDLED_TABLES, BundledTable
from ml_pipeline.basics.declaration_rules import (
    NAME,
    RESERVED_COLUMNS,
    SCHEDULE_PRESETS,
    UNSCHEDULED,
    checked_classes,
    column_problems,
    normalise,
    schedule_is_valid,
    table_problems,
)
from ml_pipeline.basics.errors import ConfigError
from ml_pipeline.basics.storage import within

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

SOURCE_KINDS = ("sklearn", "drop_folder", "sql", "synthetic")
DROP_FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
DECLARATION_KEYS = {
    "description", "features", "label", "classes", "table", "schedule", "source", "scoring", "key"
}  # fmt: skip
SOURCE_KEYS = {
    "sklearn": {"kind", "table", "folder"},
    "drop_folder": {"kind", "folder"},
    "sql": {"kind", "conn_id", "query", "folder"},
    "synthetic": {"kind", "rows", "folder"},
}


class DatasetError(ConfigError):
    """A declaration cannot be used, or names a dataset that is not declared."""


@dataclass(frozen=True)
class Source:
    """Where a dataset's daily batch comes from; ``folder`` is its drop folder: inside the data folder, or
    absolute (a mount every worker shares)."""

    kind: str
    folder: str
    table: str | None = None
    conn_id: str | None = None
    query: str | None = None
    rows: int | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    features: tuple[str, ...]
    label: str
    classes: tuple
    source: Source
    table: str
    schedule: str | None
    description: str
    scoring: Source | None = None
    key: str | None = None

    @property
    def multiclass(self) -> bool:
        return len(self.classes) > 2

    @property
    def scoring_source(self) -> Source:
        """Where the rows to score come from: the ``[scoring]`` table, else the batch's own source."""
        return self.scoring or self.source

    def source_kind(self, chosen: str) -> str:
        """The kind of source a run reads: the declared one, unless the run chose another (``chosen``)."""
        return self.source.kind if chosen == "declared" else chosen

    def drop_files(
        self, data_dir: str | Path, run_date: date, source: Source | None = None, conn_id: str = ""
    ) -> list[Path | ObjectStoragePath]:
        """The names the day's file may have in the drop folder (of ``source``, else the batch's
        source), one per accepted format. With an object-store URL as ``data_dir``, a relative folder
        is in the store: ``ObjectStoragePath``'s through the Airflow connection ``conn_id``."""
        folder = within(data_dir, (source or self.source).folder, conn_id)
        return [folder / f"{run_date.isoformat()}{suffix}" for suffix in DROP_FILE_SUFFIXES]

    def rejected_dir(
        self, data_dir: str | Path, run_date: date, conn_id: str = ""
    ) -> Path | ObjectStoragePath:
        """Where a rejected file of ``run_date`` goes, with its reasons beside it (in the store, if
        ``data_dir`` is a URL)."""
        return within(data_dir, f"rejected/{self.name}/{run_date.isoformat()}", conn_id)

    def as_dict(self) -> dict:
        """What is recorded with each model, to check later input against it."""
        return {"dataset": self.name, "features": list(self.features), "label": self.label,
                "classes": list(self.classes), "key": self.key}  # fmt: skip


def declared(datasets_dir: str | Path) -> list[str]:
    """The names of the datasets declared in ``datasets_dir``."""
    return sorted(path.stem for path in Path(datasets_dir).glob("*.toml"))


def load_all(datasets_dir: str | Path) -> tuple[list[Dataset], list[str]]:
    """Every declaration that can be used, and the problems of each one that cannot (a message per
    file): a bad declaration leaves the others' DAGs standing."""
    usable, problems = [], []
    for name in declared(datasets_dir):
        try:
            usable.append(load(datasets_dir, name))
        except DatasetError as error:
            problems.append(str(error))
    for table in sorted({dataset.table for dataset in usable}):
        sharing = [dataset.name for dataset in usable if dataset.table == table]
        if len(sharing) > 1:  # each would train on the other's rows
            usable = [dataset for dataset in usable if dataset.table != table]
            problems.append(
                f"{' and '.join(f'{name}.toml' for name in sharing)} in {datasets_dir} name the same batch "
                f'table {table!r}: each dataset needs its own (e.g. table = "{sharing[0]}_rows")'
            )
    return usable, problems


def load(datasets_dir: str | Path, name: str) -> Dataset:
    """The declaration of ``name``, checked; DatasetError naming every problem otherwise."""
    path = Path(datasets_dir) / f"{name}.toml"
    if not path.is_file():
        names = declared(datasets_dir)
        raise DatasetError(
            f"No dataset {name!r} is declared: there is no {path}. Declared: "
            f"{', '.join(names) or 'none'}. Add {name}.toml there (see README.md, 'Your own data') "
            "or choose a declared one."
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise DatasetError(f"{path} cannot be read: {error.strerror}.") from None
    except UnicodeDecodeError as error:
        raise DatasetError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8."
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise DatasetError(f"{path} is not valid TOML: {error}.") from None
    except RecursionError:
        raise DatasetError(f"{path} nests its values too deeply to be a declaration.") from None
    problems: list[str] = []
    dataset = _parse(name, raw, problems)
    if problems:
        raise DatasetError(f"{path} cannot be used: " + "; ".join(problems) + ".")
    return dataset


def _parse(name: str, raw: dict, problems: list[str]) -> Dataset | None:
    if not NAME.match(name):
        problems.append(
            f"the file name {name!r} must be a dataset name: lower-case letters, digits and _, "
            "starting with a letter, at most 63 characters"
        )
    for key in sorted(set(raw) - DECLARATION_KEYS):
        problems.append(f"unknown key {key!r} (known: {', '.join(sorted(DECLARATION_KEYS))})")
    raw = {**_bundled_defaults(raw.get("source")), **raw}
    features = raw.get("features")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        problems.append('features must be a list of column names, e.g. features = ["age", "income"]')
        features = []
    label = raw.get("label")
    if not isinstance(label, str):
        problems.append('label must name the label column, e.g. label = "churned"')
        label = ""
    column_problems(features, label, problems)
    classes = checked_classes(raw.get("classes"), problems)
    table = raw.get("table", f"{name}_rows")
    if "table" in raw or NAME.match(name):  # else the file name's own problem says it all
        problems.extend(table_problems(table))
    schedule = raw.get("schedule", "@daily")
    if not schedule_is_valid(schedule):
        problems.append(
            f'schedule {schedule!r} must be a cron expression (e.g. "0 6 * * *") or one of '
            f'{", ".join(SCHEDULE_PRESETS)}, in quotes, or "none" for runs only when triggered'
        )
    key = raw.get("key")
    folded = {normalise(column) for column in (label, *features) if isinstance(column, str)}
    if key is not None and (
        not isinstance(key, str) or not NAME.match(key) or normalise(key) != key or key in folded
        or key in RESERVED_COLUMNS
    ):  # fmt: skip
        problems.append(
            f"key {key!r} must name the column that identifies a row to score (a plain SQL column "
            "name, neither a feature nor the label)"
        )
    source = _parse_source(name, raw.get("source"), problems)
    scoring = None
    if "scoring" in raw:
        scoring = _parse_source(name, raw["scoring"], problems, section="scoring")
        if scoring is not None and scoring.kind not in ("drop_folder", "sql"):
            problems.append('[scoring] kind must be "drop_folder" or "sql"')
    if problems:
        return None
    return Dataset(
        name=name,
        features=tuple(features),
        label=label,
        classes=tuple(classes),
        source=source,
        table=table,
        schedule=None if schedule == UNSCHEDULED else schedule,
        description=str(raw.get("description", "")),
        scoring=scoring,
        key=key,
    )


def _bundled_defaults(source) -> dict:
    """For a table bundled with scikit-learn, what a declaration may leave out: its features, its
    classes and the label's column name (scikit-learn's ``target``)."""
    bundled = _bundled(source.get("table")) if isinstance(source, dict) else None
    if bundled is None or source.get("kind") != "sklearn":
        return {}
    return {"features": list(bundled.features), "classes": list(range(bundled.classes)), "label": "target"}


def _bundled(table) -> BundledTable | None:
    """The bundled table a declaration's ``table`` names, if it names one (any TOML value may be there)."""
    return BUNDLED_TABLES.get(table) if isinstance(table, str) else None


def _one_parameter(query: str) -> bool:
    """Whether the run's date is the query's only parameter (a literal % written %%), as the driver
    reads it."""
    try:
        query % {"run_date": ""}
    except (KeyError, ValueError, TypeError):
        return False
    return True


def _parse_source(name: str, raw, problems: list[str], section: str = "source") -> Source | None:
    if not isinstance(raw, dict) or raw.get("kind") not in SOURCE_KINDS:
        problems.append(f"[{section}] needs kind = one of {', '.join(SOURCE_KINDS)}")
        return None
    problems_before = len(problems)
    kind = raw["kind"]
    for key in sorted(set(raw) - SOURCE_KEYS[kind]):
        problems.append(f"[source] key {key!r} is not used by kind {kind!r}")
    folder = raw.get("folder", f"{'incoming' if section == 'source' else 'to_score'}/{name}")
    # An absolute folder is the deployment's shared mount; a relative one stays inside the data folder.
    if not isinstance(folder, str) or not folder or "\0" in folder or ".." in Path(folder).parts:
        problems.append(
            f'[source] folder {folder!r} must be a path inside the data folder, e.g. "incoming/{name}", '
            'or an absolute one every worker can read, e.g. "/srv/shared/incoming"'
        )
    if kind == "sklearn" and _bundled(raw.get("table")) is None:
        problems.append(f"[source] table must be one of scikit-learn's {', '.join(BUNDLED_TABLES)}")
    if kind == "sql":
        if not isinstance(raw.get("conn_id"), str):
            problems.append("[source] conn_id must name the Airflow connection to read from")
        query = raw.get("query")
        if not isinstance(query, str) or "%(run_date)s" not in query:
            problems.append(
                "[source] query must be a SELECT with %(run_date)s where the run's date goes, e.g. "
                'query = "SELECT * FROM visits WHERE day = %(run_date)s"'
            )
        elif not _one_parameter(query):
            problems.append("[source] query may have no parameter but %(run_date)s; write a literal % as %%")
    rows = raw.get("rows")
    if rows is not None and (type(rows) is not int or not 100 <= rows <= 5_000_000):
        problems.append("[source] rows must be an integer from 100 to 5,000,000")
    for index in range(problems_before, len(problems)):
        problems[index] = problems[index].replace("[source]", f"[{section}]")
    return Source(
        kind=kind,
        folder=folder,
        table=raw.get("table"),
        conn_id=raw.get("conn_id"),
        query=raw.get("query"),
        rows=rows,
    )
