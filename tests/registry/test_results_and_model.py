"""Experiment rows, best parameters and the saved model."""

from datetime import date
from pathlib import Path

import joblib
import numpy as np
import pytest

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.registry.experiments import RunRecord, record_model_file, save_best_params, save_experiment
from ml_pipeline.registry.model_files import refit, save_model
from ml_pipeline.training.model import C_PARAM, PCA_PARAM
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import tune

DAY = date(2026, 4, 5)


@pytest.fixture(scope="module")
def report(cancer):
    config = PipelineConfig(max_pca_components=6, c_count=3, cv_folds=3)
    train, test = split_batch(cancer, config.test_fraction, config.random_seed)
    return tune(train, test, config)[0]


def record(run_id="run-1"):
    return RunRecord(run_id, "breast_cancer", DAY, "breast_cancer", "abc123", PipelineConfig().as_dict())


def test_experiment_and_candidates_are_written(db, report):
    experiment_id = save_experiment(db, record(), report)
    row = db.execute(
        "SELECT run_date, cv_folds, best_params, cv_mean_score, test_accuracy, train_rows, test_rows,"
        " param_grid -> 'classifier__C', settings ->> 'dataset',"
        " (started_at, finished_at) = (%s::timestamptz, %s::timestamptz), dataset"
        " FROM experiments WHERE experiment_id = %s",
        (report.started_at, report.finished_at, experiment_id),
    ).fetchone()
    assert row[:7] == (
        DAY,
        3,
        report.best_params,
        report.cv_mean_score,
        report.test_metrics["accuracy"],
        report.train_rows,
        report.test_rows,
    )
    assert row[7] == report.param_grid["classifier__C"] and row[8] == "breast_cancer"
    assert row[9] is True, "the tuning's own times"
    assert row[10] == "breast_cancer"
    ranks = db.execute(
        "SELECT count(*), min(rank_test_score), max(mean_test_score) FROM cv_results"
        " WHERE experiment_id = %s",
        (experiment_id,),
    ).fetchone()
    assert ranks == (18, 1, report.cv_mean_score)


def test_saving_a_run_twice_keeps_one_experiment_and_no_stale_candidates(db, report):
    first = save_experiment(db, record(), report)
    second = save_experiment(db, record(), report)
    save_experiment(db, record("run-2"), report)
    assert first == second
    assert db.execute("SELECT count(*) FROM experiments").fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM cv_results WHERE experiment_id = %s", (first,)).fetchone() == (
        18,
    )


def test_best_params_copy_the_winner(db, report):
    experiment_id = save_experiment(db, record(), report)
    assert save_best_params(db, "breast_cancer", "run-1") == experiment_id
    assert save_best_params(db, "breast_cancer", "run-1") == experiment_id
    row = db.execute("SELECT params, pca_n_components, c, cv_mean_score FROM best_params").fetchall()
    assert row == [
        (
            report.best_params,
            report.best_params["pca__n_components"],
            report.best_params["classifier__C"],
            report.cv_mean_score,
        )
    ]


def test_best_params_without_an_experiment_say_what_to_run(db):
    with pytest.raises(LookupError, match="run the save_results task"):
        save_best_params(db, "breast_cancer", "no-such-run")


def test_model_is_saved_atomically_and_loads(tmp_path, cancer, report):
    path = tmp_path / "models" / "2026-04-05" / "model.joblib"
    sha256 = save_model(refit(cancer, report.best_params), path)
    assert [p.name for p in path.parent.iterdir()] == ["model.joblib"]
    model = joblib.load(path)
    assert model.score(cancer.features, cancer.labels) > 0.95
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def test_a_crash_while_saving_leaves_the_previous_model(tmp_path, cancer, report):
    path = tmp_path / "model.joblib"
    save_model(refit(cancer, report.best_params), path)
    before = path.read_bytes()

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_model(Unpicklable(), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_model_path_is_recorded_on_the_experiment(db, report):
    save_experiment(db, record(), report)
    record_model_file(db, "breast_cancer", "run-1", Path("2026-04-05/model.joblib"), "f" * 64)
    assert db.execute("SELECT model_path, model_sha256 FROM experiments").fetchone() == (
        "2026-04-05/model.joblib",
        "f" * 64,
    )
    with pytest.raises(LookupError):
        record_model_file(db, "breast_cancer", "other-run", Path("x.joblib"), "0" * 64)


def test_a_model_loads_only_if_its_file_is_unchanged(tmp_path, cancer, report):
    from ml_pipeline.registry.model_files import ModelIntegrityError, load_model, write_metadata

    path = tmp_path / "model.joblib"
    sha256 = save_model(refit(cancer, report.best_params), path)
    write_metadata(path, cancer, {"params": report.best_params})
    assert load_model(path, sha256).score(cancer.features, cancer.labels) > 0.95
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match="was recorded when it was saved.*retrain"):
        load_model(path, sha256)


def test_a_model_from_another_scikit_learn_is_refused(tmp_path, cancer, report):
    import json

    import sklearn

    from ml_pipeline.registry.model_files import (
        ModelIntegrityError,
        load_model,
        metadata_path,
        write_metadata,
    )

    path = tmp_path / "model.joblib"
    sha256 = save_model(refit(cancer, report.best_params), path)
    write_metadata(path, cancer, {})
    metadata = json.loads(metadata_path(path).read_text())
    assert metadata["scikit-learn"] == sklearn.__version__ and metadata["data_rows"] == 569
    assert metadata["data_sha256"] == cancer.sha256() and metadata["python"]
    metadata["scikit-learn"] = "0.24.2"
    metadata_path(path).write_text(json.dumps(metadata))
    with pytest.raises(
        ModelIntegrityError, match=r"saved with scikit-learn 0\.24\.2.*pin scikit-learn==0\.24\.2"
    ):
        load_model(path, sha256)


def test_the_refit_in_blocks_is_the_pipeline_fit_and_leaves_its_rows_alone(cancer, report):
    from ml_pipeline.training.model import build_pipeline

    rows = cancer.features.copy()
    rows.setflags(write=False)  # as the hand-off file's mapped rows are
    blocked = refit(Batch(rows, cancer.labels, cancer.feature_names), report.best_params)
    usual = build_pipeline(report.best_params[PCA_PARAM], report.best_params[C_PARAM])
    usual.fit(cancer.features, cancer.labels)
    np.testing.assert_array_equal(rows, cancer.features)
    np.testing.assert_allclose(
        blocked.predict_proba(cancer.features), usual.predict_proba(cancer.features), atol=1e-9
    )
    fitted, expected = blocked.named_steps["pca"], usual.named_steps["pca"]
    np.testing.assert_allclose(fitted.components_, expected.components_, atol=1e-9)  # the same signs
    for name in ("mean_", "explained_variance_", "explained_variance_ratio_", "singular_values_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(expected, name), rtol=1e-9, atol=1e-12)
    assert (fitted.n_samples_, fitted.n_components_) == (expected.n_samples_, expected.n_components_)
    assert blocked.named_steps["scaler"].copy, "the saved model does not overwrite what it scores"


def test_a_saved_model_is_kept_only_for_the_same_rows_parameters_and_file(tmp_path, cancer, report):
    from ml_pipeline.registry.model_files import unchanged_model, write_metadata

    path = tmp_path / "model.joblib"
    assert unchanged_model(path, cancer.sha256(), report.best_params) is None, "nothing saved yet"
    sha256 = save_model(refit(cancer, report.best_params), path)
    write_metadata(path, cancer, {"params": report.best_params, "model_sha256": sha256})

    assert unchanged_model(path, cancer.sha256(), report.best_params) == sha256
    assert unchanged_model(path, "other rows", report.best_params) is None
    other_params = {**report.best_params, "classifier__C": report.best_params["classifier__C"] * 10}
    assert unchanged_model(path, cancer.sha256(), other_params) is None
    path.write_bytes(path.read_bytes() + b"\0")
    assert unchanged_model(path, cancer.sha256(), report.best_params) is None, "the file was changed"


def test_a_model_saved_again_for_a_recorded_run_is_recorded_again(db, report):
    from ml_pipeline.registry.experiments import record_refit
    from ml_pipeline.registry.promotion import register_model

    relative = Path("2026-04-05/model.joblib")
    record_refit(db, "breast_cancer", "run-1", relative, "a" * 64)  # a first run: no rows yet
    assert db.execute("SELECT count(*) FROM experiments").fetchone() == (0,)

    save_experiment(db, record(), report)
    record_model_file(db, "breast_cancer", "run-1", relative, "f" * 64)
    register_model(db, "breast_cancer", "run-1", relative, "f" * 64, (0, 1))
    record_refit(db, "breast_cancer", "run-1", relative, "b" * 64)
    assert db.execute("SELECT model_sha256 FROM experiments").fetchone() == ("b" * 64,)
    assert db.execute("SELECT sha256 FROM models").fetchone() == ("b" * 64,)
