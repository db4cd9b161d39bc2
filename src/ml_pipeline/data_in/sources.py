"""Where the day's rows come from: the source its dataset declares, or one a run chooses instead
(``source`` = ``synthetic`` or ``drop_folder``). Every source yields an Arrow table (``day_rows``): a
file in the drop folder, a query's result, a bundled table, a synthetic batch; every table is then
checked by the same rules (``validation.check_rows``)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import Dataset, Source
from ml_pipeline.basics.db import sql
from ml_pipeline.basics.storage import StoreError, move, present, shown, store_errors
from ml_pipeline.data_in.source_table import SourceTable
from ml_pipeline.data_in.synthetic import synthetic_table
from ml_pipeline.data_in.table_check import Columns
from ml_pipeline.data_in.validation import (
    BatchRejected,
    Checked,
    check_rows,
    columns_of,
    file_table,
    reject_file,
)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath


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


class StoreUnreadable(BatchRejected):
    """The drop folder's object store cannot be read (StoreError): no file was judged, none is moved."""

    def __init__(self, error: StoreError):
        super().__init__(error.location, [str(error)])
        self.args = (str(error),)


def drop_file(
    dataset: Dataset, config: PipelineConfig, run_date: date, source: Source | None = None
) -> Path | ObjectStoragePath:
    """The day's file in the drop folder (of ``source``, else the dataset's): a local path, or an
    ``ObjectStoragePath`` if the folder is in an object store; BatchRejected if there is none, or more
    than one, StoreUnreadable if the store cannot be read."""
    expected = dataset.drop_files(config.data_dir, run_date, source, config.data_conn_id)
    folder, data = expected[0].parent, Path(config.data_dir)
    if (
        isinstance(folder, Path)
        and not Path((source or dataset.source).folder).is_absolute()
        and not folder.resolve().is_relative_to(data.resolve())
    ):
        raise BatchRejected(
            str(folder),
            [f"the drop folder leads to {folder.resolve()}, outside the data folder {data} (a link): declare "
             "that folder by its absolute path if it is meant, or replace the link by a folder"],
        )  # fmt: skip
    try:
        found = present(expected)
    except StoreError as error:
        raise StoreUnreadable(error) from None
    if len(found) == 1:
        return found[0]
    if not found:
        problem = f"there is no file {expected[0].name} (nor {', '.join(p.name for p in expected[1:])})"
    else:
        problem = f"{len(found)} files for the day: {', '.join(p.name for p in found)}; leave one"
    raise BatchRejected(shown(expected[0].parent), [problem])


def stored_table(path: ObjectStoragePath, columns: Columns) -> SourceTable:
    """The rows of a file in an object store, read by the same strict reader as a local file's, from a
    temporary copy (removed with the rows it gives), and named by the file's URL."""
    url, copy = shown(path), tempfile.TemporaryDirectory(prefix="ml_pipeline_drop_")
    local = Path(copy.name) / path.name
    try:
        with store_errors(path):
            if is_file := path.is_file():
                with path.open("rb") as stream, open(local, "wb") as written:
                    shutil.copyfileobj(stream, written, 1 << 22)
        if not is_file:  # named by the folder, as two files for a day are: nothing is moved aside
            problem = f"{path.name} is a folder (a prefix of other objects), not a file"
            raise BatchRejected(shown(path.parent), [problem])
        rows = file_table(local, columns)
    except StoreError as error:
        copy.cleanup()
        raise StoreUnreadable(error) from None
    except BatchRejected as rejection:
        copy.cleanup()
        if rejection.source != str(local):
            raise
        problems = [problem.replace(str(local), url) for problem in rejection.problems]
        raise BatchRejected(url, problems) from None
    rows.origin = url
    rows.local_copy = copy  # removed once read (fetch_batch), else once nothing holds the rows
    return rows


def set_aside(config: PipelineConfig, dataset: Dataset, run_date: date, rejection: BatchRejected) -> str:
    """The day's drop-folder file moved to the dataset's rejected folder with its reasons beside it, if
    it was refused for what it holds (not one behind a link out of the data folder, nor a store that
    cannot be read); what to tell the user, else ''."""
    if isinstance(rejection, StoreUnreadable):
        return ""
    try:
        found = present(dataset.drop_files(config.data_dir, run_date, conn_id=config.data_conn_id))
        if len(found) != 1 or rejection.source != shown(found[0]):
            return ""
        incoming = found[0]
        rejected_dir = dataset.rejected_dir(config.data_dir, run_date, config.data_conn_id)
        if isinstance(incoming, Path) and isinstance(rejected_dir, Path):
            moved = reject_file(incoming, rejected_dir, rejection)
        else:
            moved = reject_stored(incoming, rejected_dir, rejection)
    except StoreError as error:
        return f"\nThe file stays where it is: {error}"
    return (
        f"\nThe file was moved to {shown(moved)}, its reasons to {shown(moved)}.reason.txt. Put a corrected "
        f"file at {shown(incoming)} and clear wait_for_batch_file to retry."
    )


def reject_stored(
    path: Path | ObjectStoragePath, rejected_dir: ObjectStoragePath, rejection: BatchRejected
) -> ObjectStoragePath:
    """``reject_file`` where the file or the rejected folder is in an object store."""
    with store_errors(rejected_dir):
        rejected_dir.mkdir(parents=True, exist_ok=True)
        target, attempt = rejected_dir / path.name, 1
        while target.exists():  # an earlier rejection of the same day keeps its file
            attempt += 1
            target = rejected_dir / f"{path.stem}.{attempt}{path.suffix}"
        move(path, target)
        target.with_name(target.name + ".reason.txt").write_text(str(rejection) + "\n")
    return target


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
        path = drop_file(dataset, config, run_date, source)
        return file_table(path, columns) if isinstance(path, Path) else stored_table(path, columns)
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
    try:
        return check_rows(rows, columns, config.cv_folds, config.test_fraction)
    finally:
        if copy := getattr(rows, "local_copy", None):  # a stored file's copy: gone now, even if refused
            copy.cleanup()
