"""Where the day's rows come from: the source its dataset declares, or one a run chooses instead
(``source`` = ``synthetic`` or ``drop_folder``). Every source yields an Arrow table (``day_rows``): a
file in the drop folder, a query's result, a bundled table, a synthetic batch; every table is then
checked by the same rules (``validation.check_rows``)."""

from __future__ import annotations

import math
import os
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import Dataset, Source
from ml_pipeline.basics.db import sql
from ml_pipeline.data_in.source_table import SourceTable
from ml_pipeline.data_in.table_check import Columns
from ml_pipeline.data_in.validation import BatchRejected, Checked, check_rows, columns_of, file_table


def sklearn_table(dataset: Dataset) -> pa.Table:
    """A table bundled with scikit-learn, with its own column names and the label as declared."""
    import sklearn.datasets  # here, not at the top: a fetch from a file needs no scikit-learn

    bunch = getattr(sklearn.datasets, f"load_{dataset.source.table}")()
    columns = {name: bunch.data[:, index] for index, name in enumerate(bunch.feature_names)}
    labels = bunch.target if isinstance(dataset.classes[0], int) else bunch.target_names[bunch.target]
    return pa.table({**columns, dataset.label: labels})


def sklearn_batch(dataset: Dataset) -> Batch:
    """A bundled table as the dataset's batch (its columns matched to the declared ones)."""
    table = SourceTable(sklearn_table(dataset), dataset.source.table)
    return check_rows(table, columns_of(dataset), 2, 0.5).batch


def synthetic_batch(dataset: Dataset, rows: int, seed: int, shift: float = 0.0) -> Batch:
    """``synthetic_table`` as the dataset's batch."""
    table = SourceTable(synthetic_table(dataset, rows, seed, shift), "synthetic")
    return check_rows(table, columns_of(dataset), 2, 0.5).batch


def synthetic_table(dataset: Dataset, rows: int, seed: int, shift: float = 0.0) -> pa.Table:
    """A seeded table shaped like ``dataset``: its features, its classes as declared. With ``shift``,
    the first third of its features are moved by that many of their standard deviations: a batch
    from a drifted distribution."""
    from sklearn.datasets import make_classification

    n_features, n_classes = len(dataset.features), len(dataset.classes)
    informative = max(math.ceil(n_features / 3), math.ceil(math.log2(2 * n_classes)))
    features, labels = make_classification(
        n_samples=rows,
        n_features=n_features,
        n_informative=min(informative, n_features),
        n_redundant=min(informative, n_features - min(informative, n_features)),
        n_classes=n_classes,
        class_sep=1.0,
        random_state=seed,
    )
    if shift:
        shifted = features[:, : shifted_features(n_features)]
        shifted += shift * shifted.std(axis=0)
    columns = {name: features[:, index] for index, name in enumerate(dataset.features)}
    return pa.table({**columns, dataset.label: np.asarray(dataset.classes)[labels]})


def shifted_features(n_features: int) -> int:
    """How many of the first features ``synthetic_shift`` moves."""
    return max(1, n_features // 3)


def drop_file(dataset: Dataset, config: PipelineConfig, run_date: date, source: Source | None = None) -> Path:
    """The day's file in the drop folder (of ``source``, else the dataset's); BatchRejected if there is
    none, or more than one."""
    expected = dataset.drop_files(config.data_dir, run_date, source)
    folder, data = expected[0].parent, Path(config.data_dir)
    if not Path((source or dataset.source).folder).is_absolute() and not folder.resolve().is_relative_to(
        data.resolve()
    ):
        raise BatchRejected(
            str(folder),
            [f"the drop folder leads to {folder.resolve()}, outside the data folder {data} (a link): declare "
             "that folder by its absolute path if it is meant, or replace the link by a folder"],
        )  # fmt: skip
    found = [path for path in expected if os.path.lexists(path)]
    if len(found) == 1:
        return found[0]
    if not found:
        problem = f"there is no file {expected[0].name} (nor {', '.join(p.name for p in expected[1:])})"
    else:
        problem = f"{len(found)} files for the day: {', '.join(p.name for p in found)}; leave one"
    raise BatchRejected(str(expected[0].parent), [problem])


def query_table(dataset: Dataset, run_date: date, timeout: float, source: Source | None = None) -> pa.Table:
    """The result of the dataset's query (of ``source``, else its batch source) on its Airflow
    connection, with ``run_date`` as a parameter; a PostgreSQL server cancels it past ``timeout``
    seconds (elsewhere, the task's own timeout stops it)."""
    from airflow.sdk import BaseHook

    source = source or dataset.source
    origin = f"query of dataset {dataset.name} on connection {source.conn_id!r}"
    try:
        airflow_connection = BaseHook.get_connection(source.conn_id)
        connection = airflow_connection.get_hook().get_conn()
    except Exception as error:  # a missing connection, an unknown driver, a server that is down
        raise BatchRejected(
            origin,
            [f"cannot connect: {str(error).strip()[:300]}; define the Airflow connection "
             f"{source.conn_id!r} (e.g. AIRFLOW_CONN_{source.conn_id.upper()}) and check that it answers"],
        ) from None  # fmt: skip
    try:
        cursor = connection.cursor()
        if airflow_connection.conn_type == "postgres":
            cursor.execute(sql("set_statement_timeout"), (str(round(timeout * 1000)),))
        cursor.execute(source.query, {"run_date": run_date})
        if cursor.description is None:
            raise BatchRejected(origin, ["the query returns no rows: it must be a SELECT"])
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    except BatchRejected:
        raise
    except Exception as error:  # the driver's own error: a bad query, a missing table, no permission
        reason = str(error).strip()[:300]
        if "statement timeout" in reason:
            reason += (
                f" (it ran past query_timeout_seconds, {timeout:g} s: make it faster, or raise the setting)"
            )
        raise BatchRejected(origin, [f"the query failed: {reason}"]) from None
    finally:
        connection.close()
    if not rows:
        raise BatchRejected(origin, [f"the query returned no rows for {run_date}"])
    values = list(zip(*rows, strict=True))
    # Every column the query returns, two of one name too: the check names them, as in a file's header.
    return pa.Table.from_arrays([_column(column) for column in values], names=[str(name) for name in names])


def _column(values: tuple) -> pa.Array:
    """A query's column as Arrow makes it; values it cannot hold as they are ('Infinity'::numeric, mixed
    or out of range types) as numbers, else as text, for the check to name."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        try:
            return pa.array([None if value is None else float(value) for value in values], pa.float64())
        except (TypeError, ValueError, OverflowError):
            return pa.array([None if value is None else str(value) for value in values], pa.string())


def day_rows(
    config: PipelineConfig, dataset: Dataset, run_date: date, source: Source, kind: str, columns: Columns
) -> SourceTable:
    """The day's rows of ``dataset`` from ``source`` read as ``kind`` (a run may choose another kind than
    the declared one); ``columns`` are those the rows must hold, for a file's numbers to be read as such."""
    if kind == "drop_folder":
        return file_table(drop_file(dataset, config, run_date, source), columns)
    if kind == "sql":
        table = query_table(dataset, run_date, config.query_timeout_seconds, source)
        return SourceTable(table, f"query of dataset {dataset.name}")
    if kind == "sklearn":
        return SourceTable(sklearn_table(dataset), source.table)
    declared = config.source == "declared" and source.kind == "synthetic" and source.rows
    rows = source.rows if declared else config.synthetic_rows
    table = synthetic_table(dataset, rows, config.random_seed, config.synthetic_shift)
    return SourceTable(table, "synthetic")


def fetch_batch(config: PipelineConfig, run_date: date) -> Checked:
    """The batch for ``run_date`` from the dataset's source (or the run's choice), validated;
    BatchRejected if unusable."""
    dataset = config.declaration()
    columns = columns_of(dataset)
    rows = day_rows(config, dataset, run_date, dataset.source, dataset.source_kind(config.source), columns)
    return check_rows(rows, columns, config.cv_folds, config.test_fraction)
