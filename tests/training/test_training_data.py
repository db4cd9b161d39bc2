"""Tasks read the run's training data from the hand-off files, or the pipeline database where a file is
missing: the same rows on any worker."""

from datetime import date, timedelta

import numpy as np
import pytest

from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.batch_store import COPY_BLOCK_BYTES, load_batches, replace_batch
from ml_pipeline.data_in.handoff import batch_path, handoff_root, publish, run_folder
from ml_pipeline.training.training_data import BatchReplaced, split_window
from samples import BREAST_CANCER, synthetic, whole_window

DAY = date(2026, 4, 5)
RUN = RunKey(DAY, "manual__2026-04-05")


def test_the_training_window_puts_earlier_days_before_today(db, db_config, cancer, small_synthetic):
    replace_batch(db, BREAST_CANCER, cancer, DAY - timedelta(days=3), "old", "test")  # outside the window
    replace_batch(db, BREAST_CANCER, small_synthetic, DAY - timedelta(days=2), "earlier", "test")
    replace_batch(db, BREAST_CANCER, cancer, DAY, RUN.run_id, "test")

    window = whole_window(db_config.with_overrides({"training_window_days": 3}), RUN)[0]
    assert window.features.tobytes() == np.vstack([small_synthetic.features, cancer.features]).tobytes()
    np.testing.assert_array_equal(window.labels, np.concatenate([small_synthetic.labels, cancer.labels]))
    assert len(whole_window(db_config, RUN)[0]) == len(cancer)


def test_every_task_gets_the_same_split(db, db_config, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, RUN.run_id, "test")
    window = whole_window(db_config, RUN)[0]
    train, test = split_window(window, db_config)
    again_train, again_test = split_window(whole_window(db_config, RUN)[0], db_config)  # another task
    assert again_train.tobytes() == train.tobytes() and again_test.tobytes() == test.tobytes()
    # Stratified: a fifth of each class held out (212 malignant, 357 benign: 42 and 71), every row once.
    assert np.bincount(window.labels[test]).tolist() == [42, 71]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(cancer)))


def test_a_batch_stored_by_another_run_meanwhile_is_refused(db, db_config, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, "scheduled__2026-04-05", "test")
    with pytest.raises(BatchReplaced, match="run scheduled__2026-04-05 stored another since.*Clear this run"):
        whole_window(db_config, RUN)[0]
    with pytest.raises(BatchReplaced, match="it is missing"):
        whole_window(db_config, RunKey(DAY + timedelta(days=1), "manual__x"))[0]


def test_the_window_is_read_from_the_hand_off_file_once_published(db, db_config, cancer):
    sha256 = cancer.sha256()
    replace_batch(db, BREAST_CANCER, cancer, DAY, RUN.run_id, "test", sha256)
    publish(db_config, BREAST_CANCER, cancer, DAY, sha256, RUN.run_id)
    path = batch_path(handoff_root(db_config), BREAST_CANCER, DAY, sha256)
    assert path.exists() and path.path.startswith(db_config.data_dir)
    db.execute(f"DELETE FROM {BREAST_CANCER.table}")  # the rows now come from the file alone
    db.commit()
    window, days = whole_window(db_config, RUN)
    assert window.features.tobytes() == cancer.features.tobytes()
    assert window.labels.tobytes() == cancer.labels.tobytes() and days == [(DAY, len(cancer))]


def test_a_day_without_its_file_is_read_from_the_database_and_its_file_written(db, db_config, cancer):
    replace_batch(db, BREAST_CANCER, cancer, DAY, RUN.run_id, "test")  # stored, never published
    path = batch_path(handoff_root(db_config), BREAST_CANCER, DAY, cancer.sha256())
    assert not path.exists()
    assert whole_window(db_config, RUN)[0].features.tobytes() == cancer.features.tobytes()
    assert path.exists(), "the next task reads the file"
    path.write_bytes(b"not an arrow file")  # a damaged file is read around, not trusted
    assert whole_window(db_config, RUN)[0].features.tobytes() == cancer.features.tobytes()


def test_a_replaced_batch_takes_its_files_and_its_runs_files_with_it(config, cancer, small_synthetic):
    root = handoff_root(config)

    def names(day=DAY) -> list[str]:
        return sorted(entry.name for entry in (root / BREAST_CANCER.name / day.isoformat()).iterdir())

    publish(config, BREAST_CANCER, cancer, DAY, cancer.sha256(), RUN.run_id)
    for run_id in (RUN.run_id, "scheduled__other"):
        (run_folder(root, BREAST_CANCER, DAY, run_id) / "projections.npz").parent.mkdir(parents=True)
    # The same rows stored again by the same run (a cleared fetch_batch): its own folder stays valid.
    publish(config, BREAST_CANCER, cancer, DAY, cancer.sha256(), RUN.run_id)
    assert names() == [f"{cancer.sha256()}.arrow", run_folder(root, BREAST_CANCER, DAY, RUN.run_id).name]
    publish(config, BREAST_CANCER, small_synthetic, DAY, small_synthetic.sha256(), RUN.run_id)
    assert names() == [f"{small_synthetic.sha256()}.arrow"]


def test_rows_split_across_copy_blocks_are_read_whole(db):
    rows_per_block = COPY_BLOCK_BYTES // (2 + 30 * 12 + 4 + 2)
    big = synthetic(3 * rows_per_block + 17, 3)
    replace_batch(db, BREAST_CANCER, big, DAY, RUN.run_id, "test")
    loaded = load_batches(db, BREAST_CANCER, DAY, DAY + timedelta(days=1))
    assert loaded.features.tobytes() == big.features.tobytes()
    assert loaded.labels.tobytes() == big.labels.tobytes()
