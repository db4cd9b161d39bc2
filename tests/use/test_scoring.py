"""Scores for other systems: a day's rows scored by the champion into the predictions table."""

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_pipeline.data_in.validation import BatchRejected
from ml_pipeline.registry import model_files
from ml_pipeline.registry.experiments import RunRecord, save_experiment
from ml_pipeline.registry.promotion import promote_if_better, register_model
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import tune
from ml_pipeline.use import scoring
from samples import BREAST_CANCER, DATASETS_DIR

DAY = date(2026, 9, 1)
PARAMS = {"pca__n_components": 5, "classifier__C": 1.0}


@pytest.fixture
def champion(db, config, cancer):
    """breast_cancer's champion, saved in the model store as refit_final_model saves one."""
    model = model_files.refit(cancer, PARAMS)
    relative = Path("breast_cancer/champion-test.joblib")
    path = Path(config.models_dir) / relative
    sha256 = model_files.save_model(model, path)
    model_files.write_metadata(path, cancer, BREAST_CANCER.as_dict())
    small = replace(config, max_pca_components=3, c_count=2, cv_folds=3)
    report = tune(*split_batch(cancer, 0.2, 42), small)[0]
    save_experiment(db, RunRecord("run-1", "breast_cancer", DAY, "sklearn", "sha", {}), report)
    version = register_model(db, "breast_cancer", "run-1", relative, sha256, BREAST_CANCER.classes)
    promote_if_better(db, "breast_cancer", version, 0.0)
    return version, model, path


def test_a_days_rows_are_scored_and_a_rerun_replaces_them(db, config, champion, cancer):
    version, model, _ = champion
    first = scoring.score_day(db, config, DAY)
    assert first["rows"] == len(cancer) and first["model_version"] == version
    rows = db.execute(
        "SELECT row_key, predicted_class, probabilities, model_version FROM predictions"
        " WHERE dataset = 'breast_cancer' AND score_date = %s ORDER BY row_key::integer",
        (DAY,),
    ).fetchall()
    assert [key for key, *_ in rows] == [str(i) for i in range(len(cancer))]
    probabilities = np.array([p for _, _, p, _ in rows])
    np.testing.assert_allclose(probabilities, model.predict_proba(cancer.features), rtol=1e-12)
    assert [c for _, c, _, _ in rows] == [str(c) for c in model.predict(cancer.features)]
    assert {v for *_, v in rows} == {version}
    db.execute(  # a row the day's scoring does not make again: a re-run must not keep it
        "INSERT INTO predictions (dataset, score_date, row_key, predicted_class, probabilities,"
        " model_version) VALUES ('breast_cancer', %s, 'stale', '0', '{1, 0}', %s)",
        (DAY, version),
    )
    db.execute("UPDATE predictions SET predicted_class = 'x' WHERE row_key = '0'")
    db.commit()

    scoring.score_day(db, config, DAY)
    keys = db.execute("SELECT row_key, predicted_class FROM predictions ORDER BY row_key::integer").fetchall()
    assert keys == [(str(i), str(c)) for i, c in enumerate(model.predict(cancer.features))]

    latest = db.execute(
        "SELECT row_key, class_probabilities, model_version, model_status FROM latest_predictions"
        " WHERE row_key = '0'"
    ).fetchone()
    assert latest[1].keys() == {"0", "1"} and abs(sum(latest[1].values()) - 1) < 1e-9
    assert latest[2:] == (version, "champion")


def test_a_changed_model_file_is_refused_and_nothing_is_written(db, config, champion):
    _, _, path = champion
    with path.open("ab") as model_file:
        model_file.write(b"tampered")
    with pytest.raises(model_files.ModelIntegrityError, match="sha256"):
        scoring.score_day(db, config, DAY)
    assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] == 0


def test_without_a_champion_nothing_is_scored(db, config):
    with pytest.raises(scoring.NoChampion, match="no champion model yet"):
        scoring.score_day(db, config, DAY)


def scoring_declaration(tmp_path) -> Path:
    """breast_cancer, with a key column and a drop folder of files to score."""
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    text = (DATASETS_DIR / "breast_cancer.toml").read_text()
    text = text.replace('table = "batch_rows"', 'table = "batch_rows"\nkey = "patient_id"')
    (datasets / "breast_cancer.toml").write_text(text + '\n[scoring]\nkind = "drop_folder"\n')
    return datasets


def test_a_drop_folder_of_rows_to_score_names_rows_by_their_key(db, config, champion, cancer, tmp_path):
    config = replace(config, datasets_dir=str(scoring_declaration(tmp_path)))
    folder = Path(config.data_dir) / "to_score" / "breast_cancer"
    folder.mkdir(parents=True)
    frame = pd.DataFrame(cancer.features[:50], columns=list(cancer.feature_names))
    frame.insert(0, "Patient ID", [f"p-{i:03d}" for i in range(50)])  # no label: these are to score
    frame.to_csv(folder / f"{DAY}.csv", index=False)

    scored = scoring.score_day(db, config, DAY)
    assert scored["rows"] == 50 and scored["origin"].endswith(f"to_score/breast_cancer/{DAY}.csv")
    keys = [k for (k,) in db.execute("SELECT row_key FROM predictions ORDER BY row_key").fetchall()]
    assert keys == [f"p-{i:03d}" for i in range(50)]

    frame.loc[7, "Patient ID"] = "p-001"
    frame.to_csv(folder / f"{DAY}.csv", index=False)
    with pytest.raises(BatchRejected, match="'p-001'.*each row needs its own key"):
        scoring.score_day(db, config, DAY)
    assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] == 50  # the earlier scores stay


def test_keys_of_any_length_and_script_and_text_classes_are_written_exactly(db):
    """Binary COPY groups rows by the byte length of their key and their class: every row must come
    back as it was, whatever the mix."""
    rng = np.random.default_rng(7)
    keys = np.array(["a", "é", "日本-7", "x" * 40, "row 12", "b", "ü" * 3, "7"], dtype=object)
    classes = ("class_0", "c1", "high risk")
    probabilities = rng.dirichlet(np.ones(3), size=len(keys))
    predicted = np.array(classes, dtype=object)[probabilities.argmax(axis=1)]
    rows = scoring.RowsToScore(np.empty((len(keys), 0)), keys, "test")
    assert scoring.write_predictions(db, "wine", DAY, rows, predicted, probabilities, 42) == len(keys)
    stored = db.execute(
        "SELECT row_key, predicted_class, probabilities, model_version, score_date FROM predictions"
    ).fetchall()
    by_key = {key: rest for key, *rest in stored}
    assert sorted(by_key) == sorted(keys)
    for key, label, probability in zip(keys, predicted, probabilities, strict=True):
        assert by_key[key] == [label, probability.tolist(), 42, DAY]
