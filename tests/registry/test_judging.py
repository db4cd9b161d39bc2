"""Champion and challenger are compared on test rows that neither trained on."""

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.batch_store import replace_batch
from ml_pipeline.registry.experiments import RunRecord, save_experiment
from ml_pipeline.registry.judging import BLOCK_ROWS, row_keys, seen_by_champion, unseen_rows
from ml_pipeline.registry.promotion import promote_if_better, register_model
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import tune
from samples import BREAST_CANCER, synthetic, whole_window

DAY = date(2026, 5, 10)
RUN = RunKey(DAY, "manual__2026-05-10")


@pytest.fixture(scope="module")
def report(cancer):
    config = PipelineConfig(max_pca_components=4, c_count=2, cv_folds=3)
    train, test = split_batch(cancer, config.test_fraction, config.random_seed)
    return tune(train, test, config)[0]


def crown(db, report, run_id: str, run_date: date, window_days: int) -> int:
    record = RunRecord(
        run_id, "breast_cancer", run_date, "test", "sha", {"training_window_days": window_days}
    )
    save_experiment(db, record, report)
    version = register_model(db, "breast_cancer", run_id, Path(f"{run_id}.joblib"), "f" * 64, (0, 1))
    assert promote_if_better(db, "breast_cancer", version, min_delta=0.0).promoted
    return version


def as_rows(batch: Batch) -> list[tuple]:
    return [(*map(float, row), int(label)) for row, label in zip(batch.features, batch.labels, strict=True)]


@pytest.mark.parametrize("window_days", [1, 2])
def test_only_test_rows_the_champion_never_saw_are_judged_a_file_sent_again_included(
    db, db_config, report, window_days
):
    yesterday, today_new = synthetic(300, 1), synthetic(200, 2)
    resent = yesterday.take(np.arange(150))  # half of yesterday's file, sent again today
    today = Batch(np.vstack([resent.features, today_new.features]),
                  np.concatenate([resent.labels, today_new.labels]), yesterday.feature_names)  # fmt: skip
    replace_batch(db, BREAST_CANCER, synthetic(100, 3), DAY - timedelta(days=2), "older", "test")
    replace_batch(db, BREAST_CANCER, yesterday, DAY - timedelta(days=1), "yesterday", "test")
    replace_batch(db, BREAST_CANCER, today, DAY, RUN.run_id, "test")
    version = crown(db, report, "yesterday", DAY - timedelta(days=1), window_days=1)

    settings = db_config.with_overrides({"training_window_days": window_days})
    seen = seen_by_champion(db, settings, RUN, {"version": version})
    assert seen_by_champion(db, settings, RUN, {"version": version + 1}) is None, "another champion since"
    window, days = whole_window(settings, RUN)
    train, test = split_batch(window, settings.test_fraction, settings.random_seed)
    unseen = unseen_rows(test, row_keys(train), *seen.keys(row_keys(window), days))

    known = set(as_rows(yesterday)) | set(as_rows(train))
    expected = [row not in known for row in as_rows(test)]
    assert unseen.tolist() == expected
    assert 0 < sum(expected) < len(test)
    assert (seen.first, seen.after, len(seen.outside)) == (
        DAY - timedelta(days=1), DAY, 300 if window_days == 1 else 0
    )  # fmt: skip


def test_too_few_unseen_rows_keep_the_challenger_and_the_reason_says_how_many(db, report):
    crown(db, report, "run-1", DAY - timedelta(days=1), window_days=1)
    save_experiment(db, RunRecord("run-2", "breast_cancer", DAY, "test", "sha", {}), report)
    version = register_model(db, "breast_cancer", "run-2", Path("run-2.joblib"), "f" * 64, (0, 1))

    few = {"version": 1, "rows": 12, "test_rows": 114, "challenger": 1.0, "champion": 0.5}
    decision = promote_if_better(
        db, "breast_cancer", version, 0.0, rescore=lambda champion: few, min_judged_rows=30
    )
    assert not decision.promoted
    assert decision.reason.startswith("kept as a challenger: too few rows to judge it: on the 12 of 114")
    assert decision.reason.endswith(
        "`make promote VERSION=2 DATASET=breast_cancer` makes it the champion by hand"
    )
    assert (
        "on the 12 of 114 test rows that neither model trained on, accuracy 1.0000 against" in decision.reason
    )
    assert "fewer than min_judged_rows 30" in decision.reason

    none = {**few, "rows": 0, "challenger": None, "champion": None}
    decision = promote_if_better(
        db, "breast_cancer", version, 0.0, rescore=lambda champion: none, min_judged_rows=30
    )
    assert "none of the 114 test rows is one that neither model trained on" in decision.reason

    drifted = promote_if_better(
        db, "breast_cancer", version, 0.0, rescore=lambda champion: few, drift="data drift (PSI 0.4)"
    )
    assert drifted.reason.startswith("kept as a challenger: data drift (PSI 0.4) (on the 12 of 114 test rows")

    enough = {**few, "rows": 40}
    decision = promote_if_better(
        db, "breast_cancer", version, 0.0, rescore=lambda champion: enough, min_judged_rows=30
    )
    assert decision.promoted
    assert decision.reason == (
        "on the 40 of 114 test rows that neither model trained on, accuracy 1.0000 against champion "
        "version 1's 0.5000: better by more than min_delta 0"
    )


def test_rows_told_apart_by_their_fingerprint_whatever_their_values():
    rng = np.random.default_rng(0)
    counts = np.unique(rng.integers(0, 17, (50_000, 64)).astype(float), axis=0)  # digits-like pixels
    signs = np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, 3.0], [1.0, -2.0, -3.0], [-1.0, 2.0, -3.0]])
    for values in (counts, signs, rng.normal(size=(10_000, 5))):
        labels = np.zeros(len(values), dtype=np.int8)
        keys = row_keys(Batch(values, labels, tuple(f"f{i}" for i in range(values.shape[1]))))
        assert len(np.unique(keys)) == len(values)
    same = Batch(np.array([[0.0, 1.5], [-0.0, 1.5]]), np.array([1, 1], dtype=np.int8), ("a", "b"))
    other_label = Batch(np.array([[0.0, 1.5]]), np.array([0], dtype=np.int8), ("a", "b"))
    assert row_keys(same)[0] == row_keys(same)[1] != row_keys(other_label)[0]


def test_a_rows_fingerprint_is_its_own_whatever_the_batch_around_it_or_the_float_width():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 1000, (BLOCK_ROWS + 7, 3)).astype(np.float64) / 8  # exact in float32 too
    labels = rng.integers(0, 2, len(values)).astype(np.int8)
    names = ("a", "b", "c")
    whole = row_keys(Batch(values, labels, names))
    tail = row_keys(Batch(values[-7:], labels[-7:], names))
    assert whole.dtype == np.uint64 and np.array_equal(whole[-7:], tail), "past the first block too"
    narrow = row_keys(Batch(values.astype(np.float32), labels, names))
    assert np.array_equal(narrow, whole), "a float32 batch's rows are the same rows"
