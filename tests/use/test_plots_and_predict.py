"""What a user looks at: the run's plots, and predictions from the champion."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.data_in.validation import BatchRejected
from ml_pipeline.registry.model_files import refit, save_model, write_metadata
from ml_pipeline.training.model import C_PARAM, PCA_PARAM
from ml_pipeline.training.plots import ROC_POINTS, held_out_curves, plot_experiment
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import tune
from ml_pipeline.use.predict import OutputRefused, predict_file
from samples import BREAST_CANCER, DATASETS_DIR, FEATURE_COLUMNS, WINE, breast_cancer_batch


@pytest.fixture(scope="module")
def tuned(cancer):
    config = PipelineConfig(max_pca_components=6, c_count=3, cv_folds=3)
    train, test = split_batch(cancer, config.test_fraction, config.random_seed)
    report, decision = tune(train, test, config)
    return report, decision, test


def test_plots_are_written_next_to_the_model(tmp_path, tuned):
    report, decision, test = tuned
    model = tmp_path / "2026-01-01" / "model_2026-01-01_run.joblib"
    model.parent.mkdir()
    curves = held_out_curves(test.labels, decision, BREAST_CANCER.classes)
    written = plot_experiment(report, curves, model, BREAST_CANCER.classes)
    assert [path.name for path in written] == [
        "model_2026-01-01_run.cv_heatmap.png",
        "model_2026-01-01_run.roc.png",
        "model_2026-01-01_run.confusion.png",
    ]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_plots_of_three_classes_draw_a_curve_per_class(tmp_path):
    labels = np.repeat([0, 1, 2], 20)
    decision = np.random.default_rng(0).normal(size=(60, 3)) + 2 * np.eye(3)[labels]
    report = SimpleNamespace(
        param_grid={PCA_PARAM: [1, 2], C_PARAM: [0.1, 1.0]},
        candidates=[
            {"pca_n_components": k, "c": c, "mean_test_score": 0.5 + k / 10}
            for k in (1, 2)
            for c in (0.1, 1.0)
        ],
        best_params={PCA_PARAM: 2, C_PARAM: 1.0},
        cv_folds=3,
        cv_mean_score=0.7,
        test_metrics={"accuracy": 0.8},
    )
    classes = ("red", "white", "rosé")
    curves = held_out_curves(labels, decision, classes)
    assert [curve["name"] for curve in curves["roc"]] == ["class red", "class white", "class rosé"]
    written = plot_experiment(report, curves, tmp_path / "model.joblib", classes)
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in written)


def test_what_the_plots_draw_stays_small_for_any_test_split(rng):
    from sklearn.metrics import confusion_matrix, roc_auc_score

    labels = rng.integers(0, 2, 200_000)
    decision = rng.normal(size=len(labels)) + labels
    curves = held_out_curves(labels, decision, (0, 1))
    (curve,) = curves["roc"]
    assert len(curve["fpr"]) <= ROC_POINTS and (curve["fpr"][0], curve["tpr"][-1]) == (0.0, 1.0)
    assert curve["auc"] == pytest.approx(roc_auc_score(labels, decision))
    assert curves["confusion"] == confusion_matrix(labels, decision > 0).tolist()
    assert curves["rows"] == 200_000


@pytest.fixture
def saved_model(tmp_path, cancer, tuned):
    path = tmp_path / "model.joblib"
    sha256 = save_model(refit(cancer, tuned[0].best_params), path)
    write_metadata(path, cancer, BREAST_CANCER.as_dict())
    return path, sha256


def test_predict_checks_rows_against_the_features_recorded_with_the_model(tmp_path, tuned):
    from ml_pipeline.data_in.sources import sklearn_batch

    wine = sklearn_batch(WINE)
    path = tmp_path / "wine.joblib"
    sha256 = save_model(refit(wine, tuned[0].best_params), path)
    write_metadata(path, wine, WINE.as_dict())
    rows = pd.DataFrame(wine.features, columns=[name.upper() for name in WINE.features])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert predict_file(tmp_path / "rows.csv", tmp_path / "out.csv", path, sha256, DATASETS_DIR) == 178
    scored = pd.read_csv(tmp_path / "out.csv")
    assert list(scored.columns[:13]) == [name.upper() for name in WINE.features], "the file's own headers"
    assert list(scored.columns[-4:]) == ["probability_0", "probability_1", "probability_2", "predicted_label"]
    assert np.allclose(scored[["probability_0", "probability_1", "probability_2"]].sum(axis=1), 1)
    assert (scored.predicted_label == wine.labels).mean() > 0.9
    cancer_rows = pd.DataFrame(breast_cancer_batch().features[:5], columns=list(FEATURE_COLUMNS))
    cancer_rows.to_csv(tmp_path / "cancer.csv", index=False)
    with pytest.raises(BatchRejected, match="13 missing column.*alcohol"):
        predict_file(tmp_path / "cancer.csv", tmp_path / "out.csv", path, sha256, DATASETS_DIR)


def test_predict_writes_string_classes_as_declared(tmp_path, cancer, tuned):
    path = tmp_path / "model.joblib"
    sha256 = save_model(refit(cancer, tuned[0].best_params), path)
    write_metadata(path, cancer, {**BREAST_CANCER.as_dict(), "classes": ["malignant", "benign"]})
    pd.DataFrame(cancer.features[:40], columns=list(FEATURE_COLUMNS)).to_csv(
        tmp_path / "rows.csv", index=False
    )
    predict_file(tmp_path / "rows.csv", tmp_path / "out.csv", path, sha256, DATASETS_DIR)
    scored = pd.read_csv(tmp_path / "out.csv")
    expected = np.where(cancer.labels[:40] == 1, "benign", "malignant")
    assert set(scored.predicted_label) <= {"malignant", "benign"}
    assert (scored.predicted_label == expected).mean() > 0.9


def test_a_model_saved_before_datasets_were_declared_is_read_as_breast_cancer(tmp_path, cancer, tuned):
    path = tmp_path / "model.joblib"
    sha256 = save_model(refit(cancer, tuned[0].best_params), path)
    write_metadata(path, cancer, {})  # what the earlier version recorded: no features, no classes
    pd.DataFrame(cancer.features[:10], columns=list(FEATURE_COLUMNS)).to_csv(
        tmp_path / "rows.csv", index=False
    )
    assert predict_file(tmp_path / "rows.csv", tmp_path / "out.csv", path, sha256, DATASETS_DIR) == 10


def test_predict_scores_every_row_with_probability_and_class(tmp_path, cancer, saved_model):
    rows = pd.DataFrame(cancer.features[:50], columns=list(FEATURE_COLUMNS))
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert predict_file(tmp_path / "rows.csv", tmp_path / "out.csv", *saved_model, DATASETS_DIR) == 50
    scored = pd.read_csv(tmp_path / "out.csv")
    header = (tmp_path / "out.csv").read_text().splitlines()[0]
    assert header == ",".join([*FEATURE_COLUMNS, "probability_0", "probability_1", "predicted_label"])
    assert scored.probability_1.between(0, 1).all()
    assert np.allclose(scored.probability_0 + scored.probability_1, 1)
    assert (scored.predicted_label == (scored.probability_1 >= 0.5)).mean() == 1.0
    assert (scored.predicted_label == cancer.labels[:50]).mean() > 0.9


def test_predict_passes_the_declared_key_through_so_scores_join_back(tmp_path, cancer, saved_model):
    rows = pd.DataFrame(cancer.features[:12], columns=list(FEATURE_COLUMNS))
    rows.insert(3, "Customer ID", [f"C-{n:03d}" for n in range(12)][::-1])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert (
        predict_file(tmp_path / "rows.csv", tmp_path / "out.csv", *saved_model, DATASETS_DIR, "customer_id")
        == 12
    )
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored.columns[0] == "Customer ID"
    joined = rows.merge(scored[["Customer ID", "predicted_label"]], on="Customer ID", validate="one_to_one")
    assert (joined.predicted_label == cancer.labels[:12]).mean() > 0.8
    rows.loc[5, "Customer ID"] = rows.loc[4, "Customer ID"]
    rows.to_csv(tmp_path / "twice.csv", index=False)
    with pytest.raises(BatchRejected, match="name more than one row"):
        predict_file(tmp_path / "twice.csv", tmp_path / "out2.csv", *saved_model, DATASETS_DIR, "customer_id")


def test_predict_refuses_bad_rows_with_the_batch_rules(tmp_path, cancer, saved_model):
    rows = pd.DataFrame(cancer.features[:5], columns=list(FEATURE_COLUMNS)).drop(columns=["mean_area"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(BatchRejected, match="1 missing column"):
        predict_file(tmp_path / "rows.csv", tmp_path / "out.csv", *saved_model, DATASETS_DIR)
    assert not (tmp_path / "out.csv").exists()


def test_predict_refuses_a_row_with_an_extra_field_naming_its_line(tmp_path, cancer, saved_model):
    text = pd.DataFrame(cancer.features[:20], columns=list(FEATURE_COLUMNS)).to_csv(index=False)
    lines = text.splitlines()
    lines[4] = "1," + lines[4]
    (tmp_path / "rows.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(BatchRejected, match="1 row.s. do not have the header's 30 fields .first at line 5"):
        predict_file(tmp_path / "rows.csv", tmp_path / "out.csv", *saved_model, DATASETS_DIR)
    assert not (tmp_path / "out.csv").exists()


def test_predict_names_a_folder_given_as_input_or_output(tmp_path, cancer, saved_model):
    (tmp_path / "rows.csv").mkdir()
    with pytest.raises(BatchRejected, match="rows.csv is a folder, not a file"):
        predict_file(tmp_path / "rows.csv", tmp_path / "out.csv", *saved_model, DATASETS_DIR)
    pd.DataFrame(cancer.features[:5], columns=list(FEATURE_COLUMNS)).to_csv(tmp_path / "ok.csv", index=False)
    with pytest.raises(OutputRefused, match="is a folder: name a file"):
        predict_file(tmp_path / "ok.csv", tmp_path, *saved_model, DATASETS_DIR)


def test_predict_writes_nothing_where_it_cannot_and_never_over_its_input(tmp_path, cancer, saved_model):
    rows = tmp_path / "rows.csv"
    pd.DataFrame(cancer.features[:5], columns=list(FEATURE_COLUMNS)).to_csv(rows, index=False)
    before = rows.read_bytes()
    for output, problem in [
        (rows, "is the input: name another file, e.g. --output scored.csv"),
        (tmp_path / "." / "rows.csv", "is the input: name another file, e.g. --output scored.csv"),
        (tmp_path / "missing" / "out.csv",
         f"is in a folder that does not exist ({tmp_path / 'missing'}): make it, or name a file in another"),
    ]:  # fmt: skip
        with pytest.raises(OutputRefused) as refused:
            predict_file(rows, output, *saved_model, DATASETS_DIR)
        assert str(refused.value) == f"The output {output} {problem}."
    assert rows.read_bytes() == before
    assert not (tmp_path / "missing").exists()


def test_predict_before_any_run_says_to_run_the_pipeline(postgres_server, monkeypatch, tmp_path, capsys):
    import json

    from ml_pipeline import cli

    postgres_server.psql('CREATE DATABASE "never_ran";')
    socket = postgres_server.get_uri().split("host=")[1]
    connection = {"conn_type": "postgres", "host": socket, "login": "postgres", "schema": "never_ran"}
    monkeypatch.setenv("AIRFLOW_CONN_ML_PIPELINE_DB", json.dumps(connection))
    assert cli.main(["predict", "--input", str(tmp_path / "rows.csv")]) == 2
    assert "There is no champion model of dataset breast_cancer yet: run the pipeline first" in (
        capsys.readouterr().err
    )


def test_the_plots_are_drawn_without_importing_scikit_learn(tmp_path):
    """plot_experiment draws what XCom carries with Matplotlib alone: importing sklearn.metrics for its
    Display classes would double the task's time."""
    script = f"""
import sys
from pathlib import Path
import subprocess
import sys
from types import SimpleNamespace
from ml_pipeline.training.plots import plot_experiment
report = SimpleNamespace(candidates=[], test_metrics={{"accuracy": 0.9}})
curves = {{"rows": 4, "roc": [{{"name": "best model", "fpr": [0, 0.5, 1], "tpr": [0, 1, 1], "auc": 0.75}}],
          "confusion": [[2, 0], [1, 1]]}}
written = plot_experiment(report, curves, Path({str(tmp_path / "model.joblib")!r}), ("no", "yes"))
print(len(written), sorted(name for name in sys.modules if name.split(".")[0] in ("sklearn", "scipy")))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["2", "[]"]
