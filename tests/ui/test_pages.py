"""The Experiment tab and the Models page: what a user reads on them."""

from __future__ import annotations

import json
import re

from ml_pipeline.registry.experiments import RunRecord, save_experiment
from views_sample import CURVES, DAY, HOSTILE, SCORES, pictures, report


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
    # The winner's C, 1, is the largest of the grid's: the page says so, and what to change.
    assert "At the grid's edge: C 1 is the largest value searched: move c_max to search past it." in html
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


def test_names_from_the_data_are_shown_as_text(client):
    html = client.get("/run/ml_pipeline/scheduled__2026-11-30", headers=client.token("grace", "admin")).text
    models = client.get("/models", headers=client.token("grace", "admin")).text
    for page in (html, models):
        assert HOSTILE not in page and "&lt;img src=x onerror=" in page
    drift = pictures(html)["drift"]  # parsed: the name did not break the picture
    assert HOSTILE in [text.text for text in drift.iter("{http://www.w3.org/2000/svg}text")]


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
    assert "20 predicted 1 by version 1" in cancer and "11 predicted 0 by version 1" in cancer
    assert "customer-00" in cancer and "0: 0.200, 1: 0.800" in cancer
    assert set(pictures(cancer)) == {"scores-chart"}


def test_a_user_sees_only_the_datasets_whose_dag_they_may_read(client):
    html = client.get("/models", headers=client.token("ada", "viewer")).text
    assert re.findall(r'data-dataset="(\w+)"', html) == ["breast_cancer"]
    assert "customer-00" not in html and "ml_scoring's, which you may not read" in html
    assert 'class="make-champion"' not in html, "a viewer is offered no change of champion"
    wine = client.get("/models?dataset=wine", headers=client.token("grace", "admin")).text
    assert re.findall(r'data-dataset="(\w+)"', wine) == ["wine"]
    hidden = client.get("/run/ml_pipeline_wine/scheduled__2026-11-30", headers=client.token("ada", "viewer"))
    assert hidden.status_code == 403 and "0.97" not in hidden.text


def test_a_scoring_run_s_tab_points_to_the_models_page(client):
    page = client.get("/run/ml_scoring/scheduled__2026-11-30", headers=client.token("grace", "viewer"))
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
