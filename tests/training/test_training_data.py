"""Tasks read the run's training data from the pipeline database: the same rows on any worker."""

from datetime import date, timedelta

import numpy as np
import pytest

from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.batch_store import COPY_BLOCK_BYTES, load_batches, replace_batch
from ml_pipeline.training.training_data import BatchReplaced, split_sizes, train_and_test, training_window
from samples import BREAST_CANCER, synthetic

DAY = date(2026, 4, 5)
RUN = RunKey(DAY, "manual__2026-04-05")


def test_the_training_window_puts_earlier_days_before_today(db, config, cancer, small_synthetic):
    replace_batch(db, BREAST_CANCER, cancer, DAY - timedelta(days=3), "old", "test")  # outside the window
    replace_batch(db, BREAST_CANCER, small_synthetic, DAY - timedelta(days=2), "earlier", "test")
    replace_batch(db, BREAST_CANCER, cancer, DAY, RUN.run_id, "test")

    window = training_window(db, config.with_overrides({"training_window_days": 3}), RUN)
    assert window.features.tobytes() == np.vstack([small_synthetic.features, cancer.features]).tobytes()
    np.testing.assert_array_equal(window.labels, np.concatenate([small_synthetic.labels, cancer.labels]))
    assert len(training_window(db, config, RUN)) == len(cancer)


def test_every_task_gets_the_same_split_and_its_sizes_are_known_from_the_counts(db, config, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, RUN.run_id, "test")
    train, test = train_and_test(db, config, RUN)
    again_train, again_test = train_and_test(db, config, RUN)  # another task, another read
    assert again_train.features.tobytes() == train.features.tobytes()
    assert again_test.labels.tobytes() == test.labels.tobytes()
    # Stratified: a fifth of each class held out (212 malignant, 357 benign: 42 and 71), every row once.
    assert np.bincount(test.labels).tolist() == [42, 71]
    every_row = np.vstack([train.features, test.features])
    assert np.array_equal(np.unique(every_row, axis=0), np.unique(cancer.features, axis=0))
    assert len(every_row) == len(cancer)
    assert split_sizes(db, config, RUN) == {
        "training_rows": len(cancer), "train_rows": len(train), "test_rows": len(test)
    }  # fmt: skip


def test_a_batch_stored_by_another_run_meanwhile_is_refused(db, config, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, "scheduled__2026-04-05", "test")
    with pytest.raises(BatchReplaced, match="run scheduled__2026-04-05 stored another since.*Clear this run"):
        train_and_test(db, config, RUN)
    with pytest.raises(BatchReplaced, match="it is missing"):
        split_sizes(db, config, RunKey(DAY + timedelta(days=1), "manual__x"))


def test_rows_split_across_copy_blocks_are_read_whole(db):
    rows_per_block = COPY_BLOCK_BYTES // (2 + 30 * 12 + 4 + 2)
    big = synthetic(3 * rows_per_block + 17, 3)
    replace_batch(db, BREAST_CANCER, big, DAY, RUN.run_id, "test")
    loaded = load_batches(db, BREAST_CANCER, DAY, DAY + timedelta(days=1))
    assert loaded.features.tobytes() == big.features.tobytes()
    assert loaded.labels.tobytes() == big.labels.tobytes()
