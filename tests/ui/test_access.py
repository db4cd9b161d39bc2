"""Who may read the views and change the champion: Airflow's auth manager decides, and a change is
recorded with the user's name."""

from __future__ import annotations

import re


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
    assert elsewhere.status_code == 404  # breast cancer has versions 1 and 2; wine counts its own
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
    back = client.post(
        "/models/ml_pipeline/champion",
        json={"version": 1},
        headers={**client.token("grace", "admin"), **change},
    )
    assert back.status_code == 200 and champion_and_promotions(pipeline_db)[0] == 1
    tab = client.get("/run/ml_pipeline/scheduled__2026-11-29", headers=client.token("grace", "admin")).text
    assert re.search(
        r"Model version 1: .*champion: live.*by grace: promoted by grace on the Models page", tab, re.S
    )
