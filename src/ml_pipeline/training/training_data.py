"""A run's training data, as each of its tasks reads it: the stored batches of its window.

fetch_batch stores the day's batch in the dataset's table before anything else happens to it, and
writes it to the hand-off (``data_in.handoff``); every later task reads the window's days from their
hand-off files, or from the database where a file is missing. Workers need share nothing but the
database (and the model store): a task may run on another machine than the one before it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import Dataset
from ml_pipeline.basics.db import pipeline_connection, sql
from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.handoff import handoff_root
from ml_pipeline.data_in.window_files import open_window_files
from ml_pipeline.training.split import split_rows


class BatchReplaced(RuntimeError):
    """The run's batch is no longer the one stored for its date."""


def check_stored_by_run(connection, dataset: Dataset, run: RunKey) -> None:
    stored_by = connection.execute(
        sql("select_batch_run"), {"dataset": dataset.name, "batch_date": run.run_date}
    ).fetchone()
    if stored_by is None or stored_by[0] != run.run_id:
        raise BatchReplaced(
            f"The {dataset.name} batch of {run.run_date} in the database is not the one this run's "
            "fetch_batch stored: "
            + (f"run {stored_by[0]} stored another since." if stored_by else "it is missing.")
            + " Clear this run from fetch_batch on to train on a fresh batch, or let the other run "
            "finish the date."
        )


def run_window(config: PipelineConfig, run: RunKey) -> tuple[date, date]:
    """The first day of the run's training window, and the day after its last."""
    return run.run_date - timedelta(days=config.training_window_days - 1), run.run_date + timedelta(days=1)


def window_batches(connection, dataset: Dataset, first: date, after: date) -> list[tuple[date, int, str]]:
    """Each stored day of [first, after), its rows and fingerprint, in the order a window's rows are read."""
    params = {"dataset": dataset.name, "first_date": first, "before_date": after}
    return [tuple(row) for row in connection.execute(sql("select_window_days"), params).fetchall()]


def window_days(connection, dataset: Dataset, first: date, after: date) -> list[tuple[date, int]]:
    """Each stored day of [first, after) and its rows, in the order a window's rows are read."""
    return [(day, rows) for day, rows, _ in window_batches(connection, dataset, first, after)]


@contextmanager
def training_window(config: PipelineConfig, run: RunKey) -> Iterator[tuple[Batch, list]]:
    """The stored batches of the last ``training_window_days`` days up to the run's date, in date order,
    and each day with its rows, checked in one snapshot: the features left in the hand-off files
    (``WindowFiles``), read by rows while the context lasts.

    Refuses to go on if another run stored a batch for this date since this run's fetch_batch: the
    tasks of one run must all train and test on the same rows.
    """
    dataset = config.declaration()
    with ExitStack() as held:
        folder = Path(held.enter_context(tempfile.TemporaryDirectory(prefix="ml_pipeline_window_")))
        with pipeline_connection(config) as connection, connection.transaction():
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            check_stored_by_run(connection, dataset, run)
            batches = window_batches(connection, dataset, *run_window(config, run))
            opened = open_window_files(connection, handoff_root(config), dataset, batches, folder)
            files = held.enter_context(opened)
        yield Batch(files, files.labels, dataset.features), [(day, rows) for day, rows, _ in batches]


def split_window(window: Batch, config: PipelineConfig) -> tuple[np.ndarray, np.ndarray]:
    """The training window's rows split stratified into train and test, the same way in every task."""
    return split_rows(window.labels, config.test_fraction, config.random_seed)
