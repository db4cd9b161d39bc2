"""Each dataset's batch table in PostgreSQL, made from its declaration: its columns named with
``psycopg.sql.Identifier``, its label's type from the classes, and a table that holds other columns than
the declaration refused with the difference, nothing dropped."""

from __future__ import annotations

from psycopg import sql as query

from ml_pipeline.basics.datasets import Dataset
from ml_pipeline.basics.db import sql


class DeclarationChanged(RuntimeError):
    """A dataset's table holds other columns than its declaration says."""


def label_type(dataset: Dataset) -> str:
    """The label column's type, as information_schema names it."""
    return "text" if isinstance(dataset.classes[0], str) else "smallint"


def expected_columns(dataset: Dataset) -> dict[str, str]:
    return {
        "batch_date": "date",
        "row_id": "integer",
        **{feature: "double precision" for feature in dataset.features},
        dataset.label: label_type(dataset),
    }


def batch_statement(name: str, dataset: Dataset, **parts) -> query.Composed:
    """A .sql file with the dataset's table (and any other ``parts``) composed in safely."""
    return query.SQL(sql(name)).format(table=query.Identifier(dataset.table), **parts)


def create_batch_table(connection, dataset: Dataset) -> None:
    """Create the dataset's batch table if it is missing; DeclarationChanged if it holds other columns."""
    features = query.SQL(",\n    ").join(
        query.SQL("{} double precision NOT NULL").format(query.Identifier(name)) for name in dataset.features
    )
    create = batch_statement(
        "create_batch_rows",
        dataset,
        features=features,
        label=query.Identifier(dataset.label),
        label_type=query.SQL(label_type(dataset)),
        classes=query.SQL(", ").join(map(query.Literal, dataset.classes)),
    )
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(create)
        found = dict(cursor.execute(sql("select_table_columns"), {"table": dataset.table}).fetchall())
        expected = expected_columns(dataset)
        if found != expected:
            raise DeclarationChanged(_difference(dataset, found, expected))
        description = dataset.description or f"The rows of each daily batch of dataset {dataset.name}."
        cursor.execute(batch_statement("comment_batch_rows", dataset, description=query.Literal(description)))


def _difference(dataset: Dataset, found: dict[str, str], expected: dict[str, str]) -> str:
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    retyped = [f"{name} is {found[name]}, declared {expected[name]}"
               for name in expected if name in found and found[name] != expected[name]]  # fmt: skip
    details = "; ".join(
        part
        for part in (
            missing and f"declared but not in the table: {', '.join(missing)}",
            extra and f"in the table but not declared: {', '.join(extra)}",
            retyped and "; ".join(retyped),
        )
        if part
    )
    return (
        f"The table {dataset.table} of dataset {dataset.name} does not match its declaration "
        f"(datasets/{dataset.name}.toml): {details}. Nothing was changed or dropped. Either restore the "
        f"declaration; or keep the stored rows under another name (in psql: ALTER TABLE {dataset.table} "
        f"RENAME TO {dataset.table}_old;) and the next run creates the table anew; or declare the "
        "changed data as a new dataset (a new file name)."
    )
