"""The views' app on a database the tests fill, with Airflow's auth manager as the API server sets it up."""

from __future__ import annotations

import json
import shutil

import pytest

from ml_pipeline.registry.promotion import promote_if_better
from samples import DATASETS_DIR
from views_sample import DAY, HOSTILE, add_run


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
    promote_if_better(db, "breast_cancer", first, 0.0)
    add_run(db, "breast_cancer", "scheduled__2026-11-30", 0.94)
    add_run(db, "wine", "scheduled__2026-11-30", 0.97)
    db.execute(
        "INSERT INTO batches VALUES ('breast_cancer', %s, 'scheduled__2026-11-30', 'sklearn', 569,"
        ' \'{"0": 212, "1": 357}\', %s)',
        (DAY, "cd" * 32),
    )
    for name, psi in (("mean radius", 0.31), ("mean texture", 0.02), (HOSTILE, 0.01)):
        db.execute(
            "INSERT INTO drift (dataset, dag_run_id, run_date, champion_version, champion_date, kind, name,"
            " psi, threshold, drifted) VALUES ('breast_cancer', 'scheduled__2026-11-30', %s, %s, %s,"
            " 'feature', %s, %s, 0.2, %s)",
            (DAY, first, DAY, name, psi, psi > 0.2),
        )
    db.execute(
        "INSERT INTO predictions VALUES ('breast_cancer', %s, %s, '0', %s, %s)",
        (DAY, HOSTILE, [0.9, 0.1], first),
    )
    for key in range(30):  # customers 00-19 predicted 1, 20-29 predicted 0
        scores = ("1", [0.2, 0.8]) if key < 20 else ("0", [0.7, 0.3])
        db.execute("INSERT INTO predictions VALUES ('breast_cancer', %s, %s, %s, %s, %s)",
                   (DAY, f"customer-{key:02d}", *scores, first))  # fmt: skip
    db.commit()
    return db


class OneDagHidden:
    """Mixed into SimpleAuthManager: user 'ada' may not read ml_pipeline_wine, nor ml_scoring's scores."""

    def is_authorized_dag(self, *, method, user, access_entity=None, details=None):
        if (
            user.get_name() == "ada"
            and details is not None
            and details.id in ("ml_pipeline_wine", "ml_scoring")
        ):
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
