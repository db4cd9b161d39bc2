"""split_batch and the CV chunks read the training window from its hand-off files a block of rows at a time
(``training_window``): the same rows, folds and scores as the window held whole, from any mix of
files, files a task has to write first, and files removed while it reads."""

import logging
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pytest

from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.batch_store import replace_batch
from ml_pipeline.data_in.handoff import batch_path, handoff_root, publish
from ml_pipeline.training import cv_work
from ml_pipeline.training.fast_cv import grid_chunks
from ml_pipeline.training.folds import row_blocks
from ml_pipeline.training.training_data import training_window
from samples import BREAST_CANCER, synthetic, whole_window

DAY = date(2026, 4, 5)
RUN = RunKey(DAY, "manual__2026-04-05")


@pytest.fixture
def three_days(db, db_config, cancer, small_synthetic):
    """A three-day window: a day of 70,000 rows (two of the files' record batches) published, a day
    whose file is damaged, and the run's own day stored but never published."""
    settings = db_config.with_overrides({"training_window_days": 3})
    big = synthetic(70_000, 4)
    for day, batch, run_id in (
        (DAY - timedelta(days=2), big, "scheduled__a"),
        (DAY - timedelta(days=1), small_synthetic, "scheduled__b"),
        (DAY, cancer, RUN.run_id),
    ):
        replace_batch(db, BREAST_CANCER, batch, day, run_id, "test", batch.sha256())
        if day != DAY:
            publish(settings, BREAST_CANCER, batch, day, batch.sha256(), run_id)
    yesterday = DAY - timedelta(days=1)
    damaged = batch_path(handoff_root(settings), BREAST_CANCER, yesterday, small_synthetic.sha256())
    damaged.write_bytes(b"not an arrow file")
    return settings


def test_the_streamed_window_reads_the_rows_of_the_window_held_whole(
    db, three_days, cancer, small_synthetic, rng
):
    whole, _ = whole_window(three_days, RUN)
    with training_window(three_days, RUN) as (window, _):
        assert window.features.shape == whole.features.shape and len(window) == 70_000 + 600 + 569
        assert window.labels.tobytes() == whole.labels.tobytes()
        rows = np.sort(rng.choice(len(whole), size=30_000, replace=False))
        read = np.vstack(list(row_blocks(window.features, rows, 4096)))
        assert read.tobytes() == whole.features[rows].tobytes()
        with pytest.raises(ValueError, match="ascending"):
            next(row_blocks(window.features, rows[::-1], 4096))
    today = batch_path(handoff_root(three_days), BREAST_CANCER, DAY, cancer.sha256())
    assert today.exists(), "the day read from PostgreSQL has its file for the next task"
    yesterday = DAY - timedelta(days=1)
    damaged = batch_path(handoff_root(three_days), BREAST_CANCER, yesterday, small_synthetic.sha256())
    written = pa.ipc.open_file(pa.BufferReader(damaged.read_bytes())).read_all()
    assert written.num_rows == len(small_synthetic), "the damaged file is written again, whole"


def test_files_removed_while_a_task_reads_them_stay_readable(db, db_config, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, RUN.run_id, "test", cancer.sha256())
    publish(db_config, BREAST_CANCER, cancer, DAY, cancer.sha256(), RUN.run_id)
    with training_window(db_config, RUN) as (window, _):
        batch_path(handoff_root(db_config), BREAST_CANCER, DAY, cancer.sha256()).unlink()  # another run
        read = np.vstack(list(row_blocks(window.features, np.arange(len(cancer)), 100)))
    assert read.tobytes() == cancer.features.tobytes()


def test_a_hand_off_that_cannot_be_written_leaves_the_task_a_copy_of_its_own(db, db_config, cancer, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the hand-off folder should be")
    settings = db_config.with_overrides({"handoff_dir": str(blocked)})
    replace_batch(db, BREAST_CANCER, cancer, DAY, RUN.run_id, "test", cancer.sha256())
    with training_window(settings, RUN) as (window, days):
        read = window.features[np.arange(len(cancer))]
    assert read.tobytes() == cancer.features.tobytes() and days == [(DAY, len(cancer))]


def test_a_chunk_scores_the_same_bits_from_the_files_as_from_the_window_held_whole(db, three_days, caplog):
    settings = three_days.with_overrides({"max_pca_components": 6, "c_count": 3, "cv_folds": 3})
    whole, _ = whole_window(settings, RUN)
    units = grid_chunks(settings.pca_sizes(whole.features.shape[1]), settings.cv_folds, 2)[1]
    # Drawn and fitted in the chunk itself (no split_batch yet), from the window held whole.
    held, _ = cv_work.score_chunk(whole, settings, RUN, units)
    with training_window(settings, RUN) as (window, _):
        cv_work.plan(window, settings, RUN)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=cv_work.__name__):
            streamed, _ = cv_work.score_chunk(window, settings, RUN, units)
    assert len(streamed) == len(units) and streamed == held
    assert "fitting them" not in caplog.text, "the chunk read the folds and projections split_batch kept"


def test_a_cv_chunk_s_code_imports_neither_scikit_learn_nor_scipy_stats():
    """What a chunk runs, short of the fallback that draws the folds again: about 80 MiB less memory."""
    code = (
        "import sys, ml_pipeline.tasks.training, ml_pipeline.training.cv_work, "
        "ml_pipeline.training.training_data; print(sorted({'sklearn', 'scipy.stats'} & set(sys.modules)))"
    )
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]"
