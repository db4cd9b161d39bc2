"""The model registry: champion, challengers, promotions, and the models/<dataset>/champion link."""

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.registry.experiments import RunRecord, save_experiment
from ml_pipeline.registry.promotion import champion, point_champion, promote_if_better, register_model
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import tune


@pytest.fixture(scope="module")
def report(cancer):
    config = PipelineConfig(max_pca_components=4, c_count=2, cv_folds=3)
    train, test = split_batch(cancer, config.test_fraction, config.random_seed)
    return tune(train, test, config)[0]


def add_model(db, report, run_id: str, accuracy: float) -> int:
    from dataclasses import replace

    scored = replace(report, test_metrics={**report.test_metrics, "accuracy": accuracy})
    save_experiment(db, RunRecord(run_id, "breast_cancer", date(2026, 7, 1), "test", "sha", {}), scored)
    return register_model(db, "breast_cancer", run_id, Path(f"{run_id}.joblib"), "f" * 64, (0, 1))


def statuses(db) -> list[tuple]:
    return db.execute("SELECT version, status FROM models ORDER BY version").fetchall()


def test_first_model_becomes_champion_and_better_ones_replace_it(db, report):
    first = add_model(db, report, "run-1", 0.90)
    decision = promote_if_better(db, "breast_cancer", first, min_delta=0.0)
    assert decision.promoted and "first model" in decision.reason

    worse = add_model(db, report, "run-2", 0.89)
    decision = promote_if_better(db, "breast_cancer", worse, min_delta=0.0)
    assert not decision.promoted and decision.champion_version == first
    assert "kept as a challenger: test accuracy 0.8900 against champion version" in decision.reason

    better = add_model(db, report, "run-3", 0.95)
    assert promote_if_better(db, "breast_cancer", better, min_delta=0.01).promoted
    assert statuses(db) == [(first, "archived"), (worse, "challenger"), (better, "champion")]
    history = db.execute("SELECT from_version, to_version FROM champion_history").fetchall()
    assert history == [(first, better), (None, first)]


def test_min_delta_and_force(db, report):
    first = add_model(db, report, "run-1", 0.90)
    promote_if_better(db, "breast_cancer", first, min_delta=0.0)
    slightly = add_model(db, report, "run-2", 0.905)
    assert not promote_if_better(db, "breast_cancer", slightly, min_delta=0.01).promoted
    assert promote_if_better(db, "breast_cancer", slightly, min_delta=0.01, force=True).promoted
    assert champion(db, "breast_cancer")["version"] == slightly


def fitted(batch, C: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(
        batch.features, batch.labels
    )


def test_the_champion_is_judged_on_rows_neither_trained_on_or_else_on_its_own_day(
    db, report, cancer, tmp_path
):
    from sklearn.metrics import accuracy_score

    from ml_pipeline.registry.judging import judge
    from ml_pipeline.registry.model_files import save_model, write_metadata

    train, test = split_batch(cancer, 0.3, 0)
    old_model, new_model = fitted(train.take(np.arange(40)), 1e-3), fitted(train, 1.0)
    first = add_model(db, report, "run-1", 0.99)  # a high score on an easy day
    sha256 = save_model(old_model, tmp_path / "run-1.joblib")
    write_metadata(tmp_path / "run-1.joblib", train, {})
    db.execute("UPDATE models SET sha256 = %s WHERE version = %s", (sha256, first))
    promote_if_better(db, "breast_cancer", first, min_delta=0.0)
    unseen = np.arange(len(test)) % 3 != 0  # rows the champion never saw
    rows = test.take(np.flatnonzero(unseen))
    expected = {  # scikit-learn's own scores of both models on those rows
        "challenger": accuracy_score(rows.labels, new_model.predict(rows.features)),
        "champion": accuracy_score(rows.labels, old_model.predict(rows.features)),
    }
    assert expected["challenger"] > expected["champion"]
    today = add_model(db, report, "run-2", 0.95)
    scores = new_model.decision_function(test.features)
    decision = promote_if_better(
        db, "breast_cancer", today, min_delta=0.0,
        rescore=lambda champion: judge(tmp_path, champion, test, scores, unseen),
    )  # fmt: skip
    assert decision.promoted
    assert decision.reason == (
        f"on the {len(rows)} of {len(test)} test rows that neither model trained on, accuracy "
        f"{expected['challenger']:.4f} against champion version {first}'s {expected['champion']:.4f}: "
        "better by more than min_delta 0"
    )

    tomorrow = add_model(db, report, "run-3", 0.93)
    (tmp_path / "run-2.joblib").write_bytes(b"not the model that was saved")
    decision = promote_if_better(
        db, "breast_cancer", tomorrow, min_delta=0.0,
        rescore=lambda champion: judge(tmp_path, champion, test, scores, unseen),
    )  # fmt: skip
    assert not decision.promoted  # the champion's file could not be trusted: its stored 0.95 stands
    assert (
        "0.9300 against champion version 2's 0.9500, each on the test split of its own day" in decision.reason
    )


def test_re_running_a_run_keeps_its_version_and_status(db, report):
    version = add_model(db, report, "run-1", 0.90)
    promote_if_better(db, "breast_cancer", version, min_delta=0.0)
    assert add_model(db, report, "run-1", 0.90) == version
    assert "already the champion" in promote_if_better(db, "breast_cancer", version, min_delta=0.0).reason
    assert db.execute("SELECT count(*) FROM promotions").fetchone() == (1,)


def test_leaderboard_shows_each_run_with_its_model(db, report):
    version = add_model(db, report, "run-1", 0.90)
    promote_if_better(db, "breast_cancer", version, min_delta=0.0)
    rows = db.execute("SELECT dag_run_id, model_version, status FROM leaderboard").fetchall()
    assert rows == [("run-1", version, "champion")]


def test_champion_link_switches_in_place_in_the_datasets_folder(tmp_path):
    (tmp_path / "wine" / "2026-01-01").mkdir(parents=True)
    (tmp_path / "wine" / "2026-01-01" / "a.joblib").write_bytes(b"a")
    (tmp_path / "2025-12-31").mkdir()
    (tmp_path / "2025-12-31" / "b.joblib").write_bytes(b"b")  # saved before datasets had folders
    link = point_champion(tmp_path, {"dataset": "wine", "path": "wine/2026-01-01/a.joblib"})
    assert link == tmp_path / "wine" / "champion" and link.read_bytes() == b"a"
    point_champion(tmp_path, {"dataset": "wine", "path": "2025-12-31/b.joblib"})
    assert link.read_bytes() == b"b" and sorted(p.name for p in link.parent.iterdir()) == [
        "2026-01-01",
        "champion",
    ]


def test_the_champion_link_is_made_in_a_models_folder_that_does_not_exist_yet(tmp_path):
    models = tmp_path / "new" / "models"
    link = point_champion(models, {"dataset": "wine", "path": "wine/2026-01-01/a.joblib"})
    assert link == models / "wine" / "champion" and link.is_symlink()


def test_a_rollback_by_hand_crowns_the_older_version_and_records_who(db, report):
    from ml_pipeline.registry.promotion import choose_champion

    first = add_model(db, report, "run-1", 0.95)
    promote_if_better(db, "breast_cancer", first, min_delta=0.0)
    second = add_model(db, report, "run-2", 0.97)
    assert promote_if_better(db, "breast_cancer", second, min_delta=0.0).promoted
    decision, live = choose_champion(db, "breast_cancer", first, "make promote", "alice")
    assert decision.promoted and decision.version == live["version"] == first
    assert decision.reason == (
        f"promoted by make promote (test accuracy 0.9500 against champion version {second}'s 0.9700, each on "
        "the test split of its own day)"
    )
    assert statuses(db) == [(first, "champion"), (second, "archived")]
    last = "SELECT from_version, to_version, promoted_by FROM promotions ORDER BY promoted_at DESC LIMIT 1"
    assert db.execute(last).fetchone() == (second, first, "alice")
