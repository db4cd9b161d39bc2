"""The drift check before promotion: PSI per feature and for the class balance, stored and drawn,
and what it does to a promotion."""

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.batch_store import StoredBatches, replace_batch
from ml_pipeline.data_in.sketch import LEVELS, feature_quantiles
from ml_pipeline.data_in.sources import synthetic_batch
from ml_pipeline.data_in.synthetic import shifted_features
from ml_pipeline.registry.experiments import RunRecord, save_experiment
from ml_pipeline.registry.promotion import promote_if_better, register_model
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import tune
from ml_pipeline.use import drift
from samples import BREAST_CANCER

CHAMPION_DAY, TODAY = date(2026, 8, 1), date(2026, 8, 2)


def stored(batch, day=CHAMPION_DAY) -> StoredBatches:
    """What the batches table holds of ``batch`` once stored: its sketches and class counts."""
    return StoredBatches(
        dates=[day],
        rows=np.array([len(batch)]),
        sketches=feature_quantiles(batch.features)[np.newaxis],
        class_counts=np.bincount(batch.labels, minlength=2),
    )


def one_feature(values) -> StoredBatches:
    return stored(Batch(values.reshape(-1, 1), np.zeros(len(values), dtype=np.int8), ("x",)))


def test_psi_is_zero_for_the_same_shares_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    reference = one_feature(rng.normal(size=50_000))
    edges = drift.bin_edges(reference, 0)
    assert len(edges) == drift.PSI_BINS - 1
    expected = drift.shares(reference, 0, edges)
    np.testing.assert_allclose(expected, 0.1, atol=1e-9)
    assert drift.psi(expected, expected) == 0
    resampled = drift.psi(expected, drift.shares(one_feature(rng.normal(size=50_000)), 0, edges))
    shifted = drift.psi(expected, drift.shares(one_feature(rng.normal(0.5, 1, size=50_000)), 0, edges))
    assert resampled < 0.01 < 0.1 < shifted
    # An empty bin counts as a tiny share instead of an infinite term.
    assert np.isfinite(drift.psi(expected, drift.shares(one_feature(np.full(100, 99.0)), 0, edges)))


def test_the_sketched_psi_is_the_psi_counted_on_the_rows():
    rng = np.random.default_rng(1)
    champion, today = rng.normal(size=100_000), rng.normal(0.3, 1.2, size=100_000)
    edges = drift.bin_edges(one_feature(champion), 0)
    counted = [
        np.bincount(np.searchsorted(edges, v, side="right"), minlength=10) / len(v) for v in (champion, today)
    ]
    sketched = drift.psi(
        drift.shares(one_feature(champion), 0, edges), drift.shares(one_feature(today), 0, edges)
    )
    expected, actual = counted
    assert sketched == pytest.approx(float(np.sum((actual - expected) * np.log(actual / expected))), rel=0.01)


def test_psi_is_the_textbook_sum():
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5, by hand
    assert drift.psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(0.2746530722, abs=1e-9)


def test_a_window_of_several_days_is_binned_as_its_rows_together():
    rng = np.random.default_rng(2)
    days = [rng.normal(0, 1, 20_000), rng.normal(2, 1, 60_000)]
    window = StoredBatches(
        dates=[CHAMPION_DAY, TODAY],
        rows=np.array([20_000, 60_000]),
        sketches=np.stack([feature_quantiles(d.reshape(-1, 1)) for d in days]),
        class_counts=np.array([80_000, 0]),
    )
    edges = drift.bin_edges(window, 0)
    together = np.concatenate(days)
    counted = np.bincount(np.searchsorted(edges, together, side="right"), minlength=10) / len(together)
    np.testing.assert_allclose(drift.shares(window, 0, edges), counted, atol=2e-3)
    np.testing.assert_allclose(counted, 0.1, atol=2e-3)


def test_a_shifted_synthetic_batch_drifts_in_the_shifted_features_only():
    # Two halves of one seeded batch are two samples of one distribution (its rows are shuffled).
    champion = {"version": 3, "run_date": CHAMPION_DAY}
    whole = synthetic_batch(BREAST_CANCER, 40_000, 1)
    reference, today = stored(whole.take(np.arange(20_000))), np.arange(20_000, 40_000)
    features = BREAST_CANCER.features

    def checked(batch):
        return drift.compare(reference, stored(batch, TODAY), BREAST_CANCER, 0.25, champion)

    unshifted = checked(whole.take(today))
    assert unshifted.drifted == [] and unshifted.summary() is None
    assert max(f["psi"] for f in unshifted.figures) < 0.01

    shifted = checked(synthetic_batch(BREAST_CANCER, 40_000, 1, shift=1.0).take(today))
    moved = features[: shifted_features(len(features))]
    assert [f["name"] for f in shifted.drifted] == list(moved)
    assert max(f["psi"] for f in shifted.figures if f["name"] not in moved) < 0.01
    summary = shifted.summary()
    assert summary.startswith("data drift against champion version 3's training data (2026-08-01)")
    assert all(name in summary for name in moved) and features[-1] not in summary

    balance = checked(replace(whole.take(today), labels=np.zeros(20_000, dtype=np.int8)))
    assert [f["kind"] for f in balance.drifted] == ["class_balance"]
    assert "class balance of label" in balance.summary()


@pytest.fixture
def champion_on_file(db, config):
    """A champion trained on the batch of CHAMPION_DAY, stored as a run of the pipeline stores it."""
    small = replace(config, max_pca_components=3, c_count=2, cv_folds=3)
    batch = synthetic_batch(BREAST_CANCER, 3_000, 1)
    replace_batch(db, BREAST_CANCER, batch, CHAMPION_DAY, "run-1", "synthetic")
    report = tune(*split_batch(batch, 0.2, 42), small)[0]
    save_experiment(db, RunRecord("run-1", "breast_cancer", CHAMPION_DAY, "synthetic", "sha", {}), report)
    version = register_model(db, "breast_cancer", "run-1", Path("run-1.joblib"), "f" * 64, (0, 1))
    assert promote_if_better(db, "breast_cancer", version, 0.0).promoted
    save_experiment(db, RunRecord("run-2", "breast_cancer", TODAY, "synthetic", "sha", {}), report)
    return version, register_model(db, "breast_cancer", "run-2", Path("run-2.joblib"), "e" * 64, (0, 1))


def test_a_drifted_batch_is_stored_drawn_and_keeps_the_champion(db, config, champion_on_file, tmp_path):
    champion, challenger = champion_on_file
    shifted = synthetic_batch(BREAST_CANCER, 3_000, 1, shift=2.0)
    replace_batch(db, BREAST_CANCER, shifted, TODAY, "run-2", "synthetic")
    run = RunKey(TODAY, "run-2")

    check = drift.check_drift(db, config, run)
    assert (check.champion_version, check.reference_rows, check.current_rows) == (champion, 3_000, 3_000)
    drift.save_drift(db, "breast_cancer", run, check)
    drift.save_drift(db, "breast_cancer", run, check)  # a retry replaces its rows
    stored = db.execute(
        "SELECT kind, name, drifted, champion_version FROM drift WHERE dag_run_id = 'run-2' ORDER BY psi DESC"
    ).fetchall()
    assert len(stored) == len(BREAST_CANCER.features) + 1
    drifted = {name for kind, name, flag, _ in stored if flag}
    assert drifted == set(BREAST_CANCER.features[: shifted_features(len(BREAST_CANCER.features))])
    assert {version for *_, version in stored} == {champion}

    picture = drift.plot_drift(check, tmp_path / "model.drift.png", TODAY)
    assert picture.read_bytes().startswith(b"\x89PNG")

    decision = promote_if_better(db, "breast_cancer", challenger, 0.0, drift=check.summary())
    assert not decision.promoted and decision.champion_version == champion
    reason = db.execute("SELECT status_reason FROM models WHERE version = %s", (challenger,)).fetchone()[0]
    assert reason.startswith("kept as a challenger: data drift against champion version")
    assert BREAST_CANCER.features[0] in reason
    forced = promote_if_better(db, "breast_cancer", challenger, 0.0, force=True, drift=check.summary())
    assert forced.promoted and "despite data drift" in forced.reason


def test_an_unshifted_batch_passes_and_no_champion_means_no_check(db, config, champion_on_file):
    run = RunKey(TODAY, "run-2")
    # The synthetic source draws the same rows for every day: its seed makes the distribution.
    replace_batch(db, BREAST_CANCER, synthetic_batch(BREAST_CANCER, 3_000, 1), TODAY, "run-2", "synthetic")
    assert drift.check_drift(db, config, run).summary() is None
    db.execute("UPDATE models SET status = 'archived'")
    db.commit()
    assert drift.check_drift(db, config, run) is None


def test_batches_stored_before_sketches_get_them_on_the_first_check(db, config, champion_on_file):
    """A batch stored by a release without sketches gets them from its rows, once; later checks read
    them from batch_quantiles, and a re-loaded date's sketches go and come with its rows."""
    replace_batch(db, BREAST_CANCER, synthetic_batch(BREAST_CANCER, 2_000, 1, shift=2.0), TODAY, "run-2", "s")
    run = RunKey(TODAY, "run-2")
    first = drift.check_drift(db, config, run)
    db.execute("DELETE FROM batch_quantiles")
    db.commit()
    again = drift.check_drift(db, config, run)
    assert again.figures == first.figures and (again.reference_rows, again.current_rows) == (3_000, 2_000)
    assert db.execute("SELECT count(*) FROM batch_quantiles").fetchone() == (2 * len(BREAST_CANCER.features),)

    replace_batch(db, BREAST_CANCER, synthetic_batch(BREAST_CANCER, 500, 2), TODAY, "run-3", "s")
    sketches = db.execute(
        "SELECT count(*), min(cardinality(quantiles)) FROM batch_quantiles WHERE batch_date = %s", (TODAY,)
    ).fetchone()
    assert sketches == (len(BREAST_CANCER.features), LEVELS + 1)
