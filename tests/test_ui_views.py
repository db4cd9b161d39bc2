"""The Experiment tab and the Models page as the API server serves them: what a user reads on them,
and who may read or change what, through Airflow's auth manager."""

from __future__ import annotations

import base64
import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from datetime import date
from pathlib import Path

import pytest

from ml_pipeline.experiments import RunRecord, save_experiment
from ml_pipeline.registry import promote_if_better, register_model
from ml_pipeline.tuning_report import TuningReport
from samples import DATASETS_DIR

DAY = date(2026, 11, 30)
# A grid of 3 PCA sizes x 2 C values whose winner (4 components, C 1) is known beforehand.
SCORES = {(2, 0.1): 0.90, (2, 1.0): 0.92, (4, 0.1): 0.94, (4, 1.0): 0.965, (8, 0.1): 0.95, (8, 1.0): 0.93}
CURVES = {
    "rows": 114,
    "roc": [{"name": "best model", "fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.9, 1.0], "auc": 0.955}],
    "confusion": [[40, 3], [2, 69]],
}


def report(accuracy: float) -> TuningReport:
    ranked = sorted(SCORES, key=SCORES.get, reverse=True)
    candidates = [
        {
            "candidate": index,
            "params": {"pca__n_components": pca, "classifier__C": c},
            "pca_n_components": pca, "c": c, "mean_test_score": SCORES[pca, c],
            "std_test_score": 0.01, "rank_test_score": ranked.index((pca, c)) + 1,
        }
        for index, (pca, c) in enumerate(SCORES)
    ]  # fmt: skip
    return TuningReport(
        param_grid={"pca__n_components": [2, 4, 8], "classifier__C": [0.1, 1.0]},
        candidates=candidates,
        best_params={"pca__n_components": 4, "classifier__C": 1.0},
        cv_folds=5, cv_mean_score=0.965, cv_std_score=0.01,
        test_metrics={"accuracy": accuracy, "precision": 0.95, "recall": 0.97, "f1": 0.96, "roc_auc": 0.955},
        train_rows=455, test_rows=114, started_at="2026-11-30T00:00:00+00:00",
        finished_at="2026-11-30T00:00:05+00:00",
    )  # fmt: skip


def add_run(db, dataset: str, run_id: str, accuracy: float) -> int:
    save_experiment(db, RunRecord(run_id, dataset, DAY, "sklearn", "ab" * 32, {}), report(accuracy), CURVES)
    return register_model(db, dataset, run_id, Path(f"{dataset}/{run_id}.joblib"), "f" * 64, ("0", "1"))


@pytest.fixture
def pipeline_db(db, monkeypatch, tmp_path):
    """Two breast cancer runs (the first the champion), one wine run, a drift check and a day's scores;
    the views pointed at this database and at declarations of the test's own."""
    declarations = tmp_path / "datasets"
    declarations.mkdir()
    for name in ("breast_cancer", "wine"):
        shutil.copy(DATASETS_DIR / f"{name}.toml", declarations)
    monkeypatch.setenv("ML_PIPELINE_DATASETS_DIR", str(declarations))
    monkeypatch.setenv("ML_PIPELINE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_ML_PIPELINE_DB",
        json.dumps(
            {"conn_type": "postgres", "host": db.info.host, "login": "postgres", "schema": db.info.dbname}
        ),
    )
    first = add_run(db, "breast_cancer", "scheduled__2026-11-29", 0.95)
    promote_if_better(db, first, 0.0)
    add_run(db, "breast_cancer", "scheduled__2026-11-30", 0.94)
    add_run(db, "wine", "scheduled__2026-11-30", 0.97)
    db.execute(
        "INSERT INTO batches VALUES ('breast_cancer', %s, 'scheduled__2026-11-30', 'sklearn', 569,"
        ' \'{"0": 212, "1": 357}\', %s)',
        (DAY, "cd" * 32),
    )
    for name, psi in (("mean radius", 0.31), ("mean texture", 0.02)):
        db.execute(
            "INSERT INTO drift (dataset, dag_run_id, run_date, champion_version, champion_date, kind, name,"
            " psi, threshold, drifted) VALUES ('breast_cancer', 'scheduled__2026-11-30', %s, %s, %s,"
            " 'feature', %s, %s, 0.2, %s)",
            (DAY, first, DAY, name, psi, psi > 0.2),
        )
    for key in range(30):  # customers 00-19 predicted 1, 20-29 predicted 0
        scores = ("1", [0.2, 0.8]) if key < 20 else ("0", [0.7, 0.3])
        db.execute("INSERT INTO predictions VALUES ('breast_cancer', %s, %s, %s, %s, %s)",
                   (DAY, f"customer-{key:02d}", *scores, first))  # fmt: skip
    db.commit()
    return db


class OneDagHidden:
    """Mixed into SimpleAuthManager: user 'ada' may not read ml_pipeline_wine."""

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None):
        if user.get_name() == "ada" and details is not None and details.id == "ml_pipeline_wine":
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )


@pytest.fixture(scope="module")
def airflow_metadata():
    """Airflow's own tables (revoked tokens, DAG teams) in this session's AIRFLOW_HOME, which the API
    server's auth dependencies read."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture
def client(pipeline_db, airflow_metadata, monkeypatch):
    """The views' app, with Airflow's auth manager as the API server sets it up; ``client.token(name,
    role)`` signs in."""
    from airflow.api_fastapi import app as api_app
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from ml_pipeline.ui.app import app

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "a-test-secret-" + "x" * 64)
    manager = type("Limited", (OneDagHidden, SimpleAuthManager), {})()
    monkeypatch.setattr(api_app._AuthManagerState, "instance", manager)
    client = TestClient(app, root_path="/mlviews")

    def token(name: str, role: str) -> dict:
        return {
            "Authorization": f"Bearer {manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))}"
        }

    client.token = token
    return client


def pictures(html: str) -> dict[str, ElementTree.Element]:
    """Each <img> of the page by id, its SVG parsed (a picture that does not parse would not load)."""
    found = {}
    for image_id, encoded in re.findall(
        r'<img (?:id|class)="([\w-]+)"[^>]*src="data:image/svg\+xml;base64,([^"]+)"', html
    ):
        found[image_id] = ElementTree.fromstring(base64.b64decode(encoded))
    return found


def test_the_experiment_tab_shows_the_batch_candidates_scores_drift_and_decision(client):
    page = client.get("/run/ml_pipeline/scheduled__2026-11-30", headers=client.token("ada", "viewer"))
    assert page.status_code == 200
    html = page.text
    assert html.count('<tr class="candidate">') == len(SCORES)
    winner = re.search(r'id="winner">(.*?)</div>\s*</div>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>|\s+", " ", winner).split() == [
        "PCA", "components", "4", "C", "1", "mean", "CV", "accuracy", "0.9650", "±", "0.0100"
    ]  # fmt: skip
    assert "569" in html and "212" in html and "357" in html and "cd" * 32 in html
    assert "0.9400" in html  # its test accuracy
    assert "drifted: mean radius" in html and "mean texture" in html
    drawn = pictures(html)
    assert set(drawn) == {"cv-heatmap", "roc", "confusion", "drift"}
    for svg in drawn.values():
        assert float(svg.get("width")) > 0 and float(svg.get("height")) > 0
    counts = [text.text for text in drawn["confusion"].iter("{http://www.w3.org/2000/svg}text")]
    assert {"40", "3", "2", "69"} <= set(counts)
    stars = [t for t in drawn["cv-heatmap"].iter("{http://www.w3.org/2000/svg}text") if t.text == "★"]
    assert len(stars) == 1


def test_the_decision_says_why_the_model_is_live_or_not(client, pipeline_db):
    headers = client.token("ada", "viewer")
    champion = client.get("/run/ml_pipeline/scheduled__2026-11-29", headers=headers).text
    assert re.search(r"Model version 1: .*champion: live", champion)
    assert "is the first model of breast_cancer" in champion
    kept = client.get("/run/ml_pipeline/scheduled__2026-11-30", headers=headers).text
    assert "Model version 2" in kept and "challenger: kept, not live" in kept


def test_a_run_that_stored_nothing_yet_says_so(client):
    page = client.get(
        "/run/ml_pipeline/manual__2026-12-01T10:00:00+00:00", headers=client.token("ada", "viewer")
    )
    assert page.status_code == 200 and 'id="nothing-yet"' in page.text


def test_the_models_page_lists_versions_history_scores_and_predictions(client):
    html = client.get("/models", headers=client.token("grace", "admin")).text
    sections = dict(re.findall(r'<section class="dataset" data-dataset="(\w+)">(.*?)</section>', html, re.S))
    assert sorted(sections) == ["breast_cancer", "wine"]
    cancer = sections["breast_cancer"]
    assert re.findall(r'data-version="(\d+)" data-status="(\w+)"', cancer) == [
        ("2", "challenger"),
        ("1", "champion"),
    ]
    assert cancer.count('class="make-champion"') == 1  # the champion has no button
    assert "20 predicted 1 by version 1" in cancer and "10 predicted 0 by version 1" in cancer
    assert "customer-00" in cancer and "0: 0.200, 1: 0.800" in cancer
    assert set(pictures(cancer)) == {"scores-chart"}


def test_a_user_sees_only_the_datasets_whose_dag_they_may_read(client):
    html = client.get("/models", headers=client.token("ada", "viewer")).text
    assert re.findall(r'data-dataset="(\w+)"', html) == ["breast_cancer"]
    hidden = client.get("/run/ml_pipeline_wine/scheduled__2026-11-30", headers=client.token("ada", "viewer"))
    assert hidden.status_code == 403 and "0.97" not in hidden.text


def test_without_a_login_every_route_is_refused(client):
    for method, path in (
        ("GET", "/models"),
        ("GET", "/run/ml_pipeline/x"),
        ("POST", "/models/ml_pipeline/champion"),
    ):
        assert client.request(method, path, json={"version": 2}).status_code == 401, path
    forged = {"Authorization": "Bearer not-a-token"}
    assert client.get("/models", headers=forged).status_code == 403


def champion_and_promotions(db) -> tuple:
    (version,) = db.execute(
        "SELECT version FROM models WHERE dataset = 'breast_cancer' AND status = 'champion'"
    ).fetchone()
    return version, db.execute(
        "SELECT to_version, promoted_by FROM promotions ORDER BY promotion_id"
    ).fetchall()


def test_a_rollback_needs_edit_rights_and_the_page_s_header_and_is_recorded(client, pipeline_db):
    change = {"X-ML-Views": "champion"}
    viewer = client.post(
        "/models/ml_pipeline/champion",
        json={"version": 2},
        headers={**client.token("ada", "viewer"), **change},
    )
    assert viewer.status_code == 403
    bare = client.post(
        "/models/ml_pipeline/champion", json={"version": 2}, headers=client.token("grace", "admin")
    )
    assert bare.status_code == 403 and "X-ML-Views" in bare.json()["detail"]
    elsewhere = client.post(
        "/models/ml_pipeline/champion",
        json={"version": 3},
        headers={**client.token("grace", "admin"), **change},
    )
    assert elsewhere.status_code == 404  # version 3 is wine's
    assert champion_and_promotions(pipeline_db) == (1, [(1, None)])

    done = client.post(
        "/models/ml_pipeline/champion",
        json={"version": 2},
        headers={**client.token("grace", "admin"), **change},
    )
    assert done.status_code == 200 and done.json()["champion"] == 2
    assert champion_and_promotions(pipeline_db) == (2, [(1, None), (2, "grace")])
    page = client.get("/models", headers=client.token("grace", "admin")).text
    assert "promoted by grace on the Models page" in page


def test_a_scoring_run_s_tab_points_to_the_models_page(client):
    page = client.get("/run/ml_scoring/scheduled__2026-11-30", headers=client.token("ada", "viewer"))
    assert (
        page.status_code == 200 and "trains no model" in page.text and 'href="/mlviews/models"' in page.text
    )


def test_an_unreachable_database_is_named_on_the_page(client, monkeypatch, tmp_path):
    away = {"conn_type": "postgres", "host": str(tmp_path / "no-server-here"), "login": "postgres"}
    monkeypatch.setenv("AIRFLOW_CONN_ML_PIPELINE_DB", json.dumps(away))
    page = client.get("/models", headers=client.token("grace", "admin"))
    assert page.status_code == 503
    assert "Cannot reach the pipeline database" in page.json()["detail"]


def test_a_run_that_reused_the_champion_s_parameters_shows_them(client, pipeline_db):
    from dataclasses import replace

    reused = replace(
        report(0.96), candidates=[], cv_mean_score=None, cv_std_score=None, tuning="reuse",
        params_from_version=1, best_params={"pca__n_components": 6, "classifier__C": 10.0},
    )  # fmt: skip
    record = RunRecord("scheduled__2026-12-01", "breast_cancer", DAY, "sklearn", "ab" * 32, {})
    save_experiment(pipeline_db, record, reused, CURVES)
    html = client.get("/run/ml_pipeline/scheduled__2026-12-01", headers=client.token("ada", "viewer")).text
    assert "parameters of champion version 1 were refit" in html
    winner = re.search(r'id="winner">(.*?)</div>\s*</div>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>|\s+", " ", winner).split() == ["PCA", "components", "6", "C", "10"]
    assert "cv-heatmap" not in html and set(pictures(html)) == {"roc", "confusion"}
