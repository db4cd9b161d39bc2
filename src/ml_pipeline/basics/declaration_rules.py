"""The rules a declaration's values are held to, each found late before: its column names (plain and
folded, none twice, none reserved), its classes, its batch table (not the pipeline's own nor the
catalog's) and its schedule. Standard library only (and Airflow's cron parser for a cron schedule)."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")  # a plain PostgreSQL identifier, folded, at most 63 bytes
RESERVED_COLUMNS = ("batch_date", "row_id")
UNSCHEDULED = "none"
SCHEDULE_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@once")
# A batch row (its date, row id, label and features, 8 bytes each) must fit in one 8 kB PostgreSQL page.
MOST_FEATURES = 1_000
MOST_CLASSES = 127  # class indices are held in 8 bits
SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


@lru_cache(maxsize=8192)  # every request to the scoring service folds the same header again
def normalise(name: str) -> str:
    """A column name folded: lower case, runs of spaces and punctuation made one underscore."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def column_problems(features: list[str], label: str, problems: list[str]) -> None:
    if len(features) > MOST_FEATURES:
        problems.append(
            f"{len(features):,} features: at most {MOST_FEATURES:,}, for a batch row to fit in one "
            "PostgreSQL page; declare fewer"
        )
    for column in [*features, label] if label else features:
        if not NAME.match(column) or normalise(column) != column:
            # A batch file's header is matched after folding: a name that folds otherwise matches nothing.
            problems.append(
                f"column {column!r} is not a plain SQL column name; write it as {normalise(column)!r}"
            )
        elif column in RESERVED_COLUMNS:
            problems.append(f"column {column!r} is reserved for the batch table; rename it")
    repeated = sorted({f for f in features if features.count(f) > 1})
    if repeated:
        problems.append(f"features named twice: {', '.join(repeated)}")
    if label and label in features:
        problems.append(f"the label {label!r} is also listed as a feature")


def checked_classes(classes, problems: list[str]) -> list:
    if (
        not isinstance(classes, list)
        or len(classes) < 2
        or not (all(type(c) is int for c in classes) or all(isinstance(c, str) for c in classes))
    ):
        problems.append(
            "classes must list two or more labels, all integers or all strings, "
            'e.g. classes = [0, 1] or classes = ["stayed", "churned"]'
        )
        return []
    if len(set(classes)) < len(classes) or any(isinstance(c, str) and c != c.strip() for c in classes):
        problems.append("classes must differ from each other and have no spaces around them")
    elif "" in classes:
        problems.append('a class cannot be empty text (""): an empty label cell is no class')
    elif any(isinstance(c, int) and not -32768 <= c <= 32767 for c in classes):
        problems.append("integer classes must fit in a smallint (-32768 to 32767)")
    elif len(classes) > MOST_CLASSES:
        problems.append(f"{len(classes)} classes: at most {MOST_CLASSES}")
    return classes


def table_problems(table) -> list[str]:
    """What is wrong with ``table`` as a dataset's batch table: not a plain name, the catalog's, or one of
    the pipeline's own tables."""
    if not isinstance(table, str) or not NAME.match(table):
        return [f"table {table!r} must be a plain SQL table name"]
    if table.startswith("pg_"):
        return [f"table {table!r} is a PostgreSQL catalog name; choose another, or leave table out"]
    if table in pipeline_tables():
        return [f"table {table!r} is one of the pipeline's own tables; choose another, or leave table out"]
    return []


@cache
def pipeline_tables() -> frozenset[str]:
    """The tables the pipeline's own schema files create."""
    created = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
    return frozenset(
        table for path in SQL_DIR.glob("create_*.sql") for table in created.findall(path.read_text())
    ) - {"table"}


def schedule_is_valid(schedule) -> bool:
    if not isinstance(schedule, str):
        return False
    if schedule == UNSCHEDULED or schedule in SCHEDULE_PRESETS:
        return True
    from croniter import croniter  # Airflow's own cron parser; here, as only a cron schedule needs it

    return not schedule.startswith("@") and croniter.is_valid(schedule)
