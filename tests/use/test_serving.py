"""The scoring service as a client sees it: MLflow's bodies scored by the champion, each mistake a 4xx
naming it, the token, and the champion following promotions without a restart."""

import json
import threading
import time
from contextlib import closing
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.errors import ConfigError
from ml_pipeline.data_in.table_check import Columns
from ml_pipeline.registry.experiments import RunRecord, save_experiment
from ml_pipeline.registry.model_files import refit, save_model, store_copy, write_metadata
from ml_pipeline.registry.promotion import choose_champion, promote_if_better, register_model
from ml_pipeline.training.model import C_PARAM, PCA_PARAM, affine_form
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import tune
from ml_pipeline.use.serving.app import Limits, create_app
from ml_pipeline.use.serving.champions import Champions, Served
from ml_pipeline.use.serving.server import bearer_token
from samples import BREAST_CANCER, DATASETS_DIR, FEATURE_COLUMNS

TOKEN = "a-token-for-the-tests-only"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CLASSES = ("malignant", "benign")


@pytest.fixture(scope="module")
def report(cancer):
    config = PipelineConfig(max_pca_components=4, c_count=2, cv_folds=3)
    train, test = split_batch(cancer, config.test_fraction, config.random_seed)
    return tune(train, test, config)[0]


def add_model(db, models_dir: Path, report, cancer, run_id: str, pca: int, store: bool = True) -> int:
    """A model of breast cancer (string classes) saved, registered and, if ``store``, kept in the database."""
    path = models_dir / f"{run_id}.joblib"
    model = refit(cancer, {PCA_PARAM: pca, C_PARAM: 1.0})
    sha256 = save_model(model, path)
    write_metadata(path, cancer, {**BREAST_CANCER.as_dict(), "classes": list(CLASSES)})
    save_experiment(db, RunRecord(run_id, "breast_cancer", date(2026, 7, 1), "test", "sha", {}), report)
    version = register_model(db, "breast_cancer", run_id, path.relative_to(models_dir), sha256, CLASSES)
    if store:
        store_copy(db, path, sha256, "breast_cancer")
    return version


@pytest.fixture
def served(connect, tmp_path, report, cancer):
    db = connect()
    version = add_model(db, tmp_path, report, cancer, "run-1", pca=3)
    promote_if_better(db, "breast_cancer", version, min_delta=0.0)
    champions = Champions(lambda: closing(connect()), tmp_path, DATASETS_DIR)
    champions.refresh()
    return db, champions


@pytest.fixture
def champions(cancer) -> Champions:
    """The champion as the service holds it once loaded, without a database: for what a request meets."""
    model = refit(cancer, {PCA_PARAM: 3, C_PARAM: 1.0})
    champions = Champions(None, Path("no-models"), DATASETS_DIR)
    columns = Columns(FEATURE_COLUMNS, BREAST_CANCER.label, CLASSES)
    now = datetime.now(UTC)
    champions.served["breast_cancer"] = Served(
        "breast_cancer", 1, "f" * 64, now, model, columns, now, affine_form(model)
    )
    champions.database_problem = None
    return champions


@pytest.fixture
def client(champions):
    return TestClient(create_app(champions, TOKEN, Limits(1 << 20, 1000)))


def split_body(rows: np.ndarray, columns=FEATURE_COLUMNS) -> dict:
    return {"dataframe_split": {"columns": list(columns), "data": rows.tolist()}}


def test_each_mlflow_body_gets_the_champions_labels_probabilities_and_version(client, champions, cancer):
    rows = cancer.features[:5]
    champion = champions.get("breast_cancer")
    assert champion.affine is not None, "scored as one affine map, checked against the model when loaded"
    expected = champion.model.predict_proba(rows)
    records = [dict(zip(FEATURE_COLUMNS, row, strict=True)) for row in rows.tolist()]
    csv = ",".join(FEATURE_COLUMNS) + "\n" + "\n".join(",".join(map(repr, row)) for row in rows.tolist())
    bodies = [
        {"json": split_body(rows)},
        {"json": {"dataframe_records": records}},
        {"json": {"instances": records}},
        {"json": {"inputs": {name: rows[:, i].tolist() for i, name in enumerate(FEATURE_COLUMNS)}}},
        {"content": csv, "headers": {"Content-Type": "text/csv"}},
    ]
    for body in bodies:
        response = client.post(
            "/datasets/breast_cancer/invocations", headers=AUTH | body.pop("headers", {}), **body
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["model_version"] == 1 and answer["dataset"] == "breast_cancer"
        predictions = answer["predictions"]
        assert [p["predicted_label"] for p in predictions] == [CLASSES[i] for i in expected.argmax(axis=1)]
        got = np.array([[p["probability_malignant"], p["probability_benign"]] for p in predictions])
        assert np.abs(got - expected).max() < 1e-12
        assert {p["model_version"] for p in predictions} == {1}


def test_where_mlflows_own_client_posts_the_default_dataset_answers(champions, cancer):
    client = TestClient(create_app(champions, TOKEN, Limits(1 << 20, 1000), default_dataset="breast_cancer"))
    response = client.post("/invocations", headers=AUTH, json=split_body(cancer.features[:3]))
    assert response.status_code == 200 and len(response.json()["predictions"]) == 3
    assert client.get("/ping").status_code == 200


def test_headers_are_folded_like_a_files_and_numbers_as_text_are_read(client, cancer):
    columns = [name.upper().replace("_", " ") for name in FEATURE_COLUMNS]
    body = {"dataframe_split": {"columns": columns, "data": [[str(v) for v in cancer.features[0]]]}}
    response = client.post("/datasets/breast_cancer/invocations", headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "the body is not JSON"),
        (b"[1, 2]", 400, "not an object"),
        (b'{"columns": ["a"]}', 400, "exactly one of dataframe_split"),
        (b'{"instances": [], "inputs": []}', 400, "exactly one of"),
        (b'{"instances": [[1, 2, 3]]}', 400, "rows without column names go in dataframe_split"),
        (b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}}', 400, "row 1 has 1 values for 2"),
        (b'{"dataframe_records": [{"mean_radius": 1}]}', 400, "29 missing column(s)"),
        (b'{"dataframe_split": {"columns": [], "data": []}}', 400, "missing column"),
        (b'{"inputs": [], "params": {"x": 1}}', 400, "takes no params"),
    ],
)
def test_a_malformed_body_is_refused_with_its_problem_named(client, body, status, message):
    response = client.post(
        "/datasets/breast_cancer/invocations",
        headers=AUTH | {"Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == status
    assert message in response.json()["message"]
    assert "Traceback" not in response.text


def test_cells_that_are_no_finite_numbers_are_named_with_their_row(client, cancer):
    rows = cancer.features[:3].tolist()
    rows[1][0], rows[2][4] = "abc", 1e300
    response = client.post(
        "/datasets/breast_cancer/invocations", headers=AUTH, json=split_body(np.array(rows, dtype=object))
    )
    assert response.status_code == 400
    message = response.json()["message"]
    assert "'mean_radius'" in message and "row 2" in message and "abc" in message
    assert "'mean_smoothness'" in message and "row 3" in message and "1e+300" in message
    for word in ("NaN", "Infinity", "1e999"):
        body = json.dumps(split_body(cancer.features[:1])).replace("17.99", word, 1)
        response = client.post("/datasets/breast_cancer/invocations", headers=AUTH, content=body)
        assert response.status_code == 400 and "not JSON" in response.json()["message"], word


def test_a_key_column_is_passed_through_to_each_prediction(champions, cancer):
    current = champions.served["breast_cancer"]
    champions.served["breast_cancer"] = replace(current, columns=replace(current.columns, key="patient_id"))
    client = TestClient(create_app(champions, None, Limits(1 << 20, 1000)))
    body = split_body(
        np.column_stack([["p-1", "p-2"], cancer.features[:2]]), ["Patient ID", *FEATURE_COLUMNS]
    )
    response = client.post("/datasets/breast_cancer/invocations", json=body)
    assert response.status_code == 200, response.text
    assert [p["patient_id"] for p in response.json()["predictions"]] == ["p-1", "p-2"]


def test_too_large_a_body_or_too_many_rows_is_413(champions, cancer):
    client = TestClient(create_app(champions, TOKEN, Limits(20_000, 10)))
    many = client.post(
        "/datasets/breast_cancer/invocations", headers=AUTH, json=split_body(cancer.features[:11])
    )
    assert many.status_code == 413 and "at most 10" in many.json()["message"]
    huge = client.post(
        "/datasets/breast_cancer/invocations", headers=AUTH, json=split_body(cancer.features[:200])
    )
    assert huge.status_code == 413 and "larger than" in huge.json()["message"]
    assert (
        client.post(
            "/datasets/breast_cancer/invocations", headers=AUTH, json=split_body(cancer.features[:2])
        ).status_code
        == 200
    )


def test_without_the_token_only_the_health_check_answers(client, champions):
    body = {"dataframe_records": []}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.post("/datasets/breast_cancer/invocations", headers=headers, json=body)
        assert response.status_code == 401 and "Authorization: Bearer" in response.json()["message"]
        assert client.get("/datasets", headers=headers).status_code == 401
    assert client.get("/health").json() == {"status": "ready", "datasets": {"breast_cancer": {"serving": 1}}}
    listed = client.get("/datasets", headers=AUTH).json()["datasets"]["breast_cancer"]
    assert listed["version"] == 1 and len(listed["sha256"]) == 64 and listed["since"]


def test_an_unknown_dataset_is_404_naming_the_served_ones(client):
    response = client.post("/datasets/churn/invocations", headers=AUTH, json={"inputs": []})
    assert response.status_code == 404 and "served: breast_cancer" in response.json()["message"]


def test_a_promotion_reaches_the_service_within_a_second_and_in_flight_requests_keep_their_model(
    served, tmp_path, report, cancer
):
    db, champions = served
    before = champions.get("breast_cancer")  # what a request in flight holds
    stop = threading.Event()
    follower = threading.Thread(target=champions.follow, args=(stop,), daemon=True)
    follower.start()
    try:
        second = add_model(db, tmp_path, report, cancer, "run-2", pca=5)
        choose_champion(db, "breast_cancer", second, "make promote", "tester")
        promoted = time.monotonic()
        while champions.get("breast_cancer").version != second and time.monotonic() - promoted < 10:
            time.sleep(0.01)
        assert champions.get("breast_cancer").version == second
        assert time.monotonic() - promoted < 1.0, "the notice, not the poll, brought it"
        choose_champion(db, "breast_cancer", 1, "make promote", "tester")  # and back
        rolled_back = time.monotonic()
        while champions.get("breast_cancer").version != 1 and time.monotonic() - rolled_back < 10:
            time.sleep(0.01)
        assert time.monotonic() - rolled_back < 1.0
    finally:
        stop.set()
        follower.join(10)
    assert before.version == 1 and before.scores(cancer.features[:2])[1].shape == (2, 2)


def test_a_champion_that_fails_to_load_never_replaces_the_served_one(served, tmp_path, report, cancer):
    db, champions = served
    second = add_model(db, tmp_path, report, cancer, "run-2", pca=5)
    db.execute(
        "UPDATE model_files SET model = 'not a model' "
        "WHERE sha256 = (SELECT sha256 FROM models WHERE version = %s)",
        (second,),
    )
    db.commit()
    choose_champion(db, "breast_cancer", second, "make promote", "tester")
    champions.refresh()
    assert champions.get("breast_cancer").version == 1
    client = TestClient(create_app(champions, None, Limits(1 << 20, 1000)))
    health = client.get("/health")
    assert health.status_code == 503
    problem = health.json()["datasets"]["breast_cancer"]["problem"]
    assert "champion version 2 could not be loaded" in problem and "sha256" in problem
    assert "still serving version 1" in problem
    listed = client.get("/datasets").json()
    assert (
        listed["datasets"]["breast_cancer"]["version"] == 1 and listed["datasets"]["breast_cancer"]["since"]
    )
    assert listed["status"] == "not ready"
    scored = client.post("/datasets/breast_cancer/invocations", json=split_body(cancer.features[:1]))
    assert scored.json()["model_version"] == 1


def test_a_model_saved_before_the_database_kept_copies_loads_from_the_models_folder(
    connect, tmp_path, report, cancer
):
    db = connect()
    version = add_model(db, tmp_path, report, cancer, "run-1", pca=3, store=False)
    promote_if_better(db, "breast_cancer", version, min_delta=0.0)
    here = Champions(lambda: closing(connect()), tmp_path, DATASETS_DIR)
    here.refresh()
    assert here.get("breast_cancer").version == version
    elsewhere = Champions(lambda: closing(connect()), tmp_path / "not-here", DATASETS_DIR)
    elsewhere.refresh()
    assert elsewhere.get("breast_cancer") is None
    assert "holds no copy of it" in elsewhere.problems["breast_cancer"]


def test_the_token_is_made_once_readable_by_its_owner_alone(tmp_path):
    config = PipelineConfig(serve_token_file=str(tmp_path / "secret" / "token"))
    token = bearer_token(config)
    assert len(token) >= 32 and bearer_token(config) == token
    assert (tmp_path / "secret" / "token").stat().st_mode & 0o777 == 0o600
    assert bearer_token(replace(config, serve_open_access=True)) is None
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(ConfigError, match="at least 16"):
        bearer_token(replace(config, serve_token_file=str(tmp_path / "short")))


def keyed_client(champions):
    current = champions.served["breast_cancer"]
    champions.served["breast_cancer"] = replace(current, columns=replace(current.columns, key="patient_id"))
    return TestClient(create_app(champions, None, Limits(1 << 20, 1000)))


def post(client, body: bytes, kind: str = "application/json"):
    return client.post(
        "/datasets/breast_cancer/invocations", headers=AUTH | {"Content-Type": kind}, content=body
    )


def test_json_nested_deeper_than_rows_need_is_refused_before_it_is_decoded(champions, client):
    for body in (b"[" * 5000 + b"]" * 5000, b'{"dataframe_split": ' + b"[" * 1100 + b"]" * 1100 + b"}"):
        response = post(client, body)
        assert (
            response.status_code == 413
            and "JSON lists and objects, more than 1039" in response.json()["message"]
        )
    roomy = TestClient(create_app(champions, TOKEN, Limits(1 << 20, 100_000)))
    response = post(roomy, b"[" * 5000 + b"]" * 5000)
    assert response.status_code == 400 and "nested too deeply" in response.json()["message"]


@pytest.mark.parametrize("cell", [True, False, "1_7.99", "１７.９９", [17.99], {"v": 1}, 10**400])
def test_flags_and_lookalikes_of_numbers_are_refused_in_every_body(client, cancer, cell):
    rows = cancer.features[:2].tolist()
    rows[1][0] = cell
    records = [dict(zip(FEATURE_COLUMNS, row, strict=True)) for row in rows]
    for body in (
        {"dataframe_split": {"columns": list(FEATURE_COLUMNS), "data": rows}},
        {"dataframe_records": records},
        {"inputs": {name: [row[i] for row in rows] for i, name in enumerate(FEATURE_COLUMNS)}},
    ):
        response = post(client, json.dumps(body).encode())
        assert response.status_code == 400, (cell, body.keys(), response.text)
        assert "'mean_radius'" in response.json()["message"] and "row 2" in response.json()["message"]


def test_a_csv_header_that_is_not_utf8_is_a_400(client, cancer):
    csv = (",".join(FEATURE_COLUMNS) + "\n" + ",".join(map(str, cancer.features[0]))).encode()
    response = post(client, csv.replace(b"mean_radius", b"mean_radius\xff"), "text/csv")
    assert response.status_code == 400 and "not UTF-8" in response.json()["message"]


def test_the_key_comes_back_as_it_was_sent_in_every_body(champions, cancer):
    client = keyed_client(champions)
    keys = ["00123", "1e3", "9007199254740993", "NA"]
    rows = cancer.features[: len(keys)].tolist()
    split = {
        "dataframe_split": {
            "columns": ["patient_id", *FEATURE_COLUMNS],
            "data": [[k, *r] for k, r in zip(keys, rows, strict=True)],
        }
    }
    csv = (
        "patient_id,"
        + ",".join(FEATURE_COLUMNS)
        + "\n"
        + "\n".join(",".join([k, *map(repr, r)]) for k, r in zip(keys, rows, strict=True))
    )
    numbers = {
        "dataframe_split": {
            "columns": ["patient_id", *FEATURE_COLUMNS],
            "data": [[9007199254740993, *rows[0]]],
        }
    }
    for body, kind, expected in (
        (json.dumps(split).encode(), "application/json", keys),
        (csv.encode(), "text/csv", keys),
        (json.dumps(numbers).encode(), "application/json", ["9007199254740993"]),
    ):
        response = client.post(
            "/datasets/breast_cancer/invocations", headers={"Content-Type": kind}, content=body
        )
        assert response.status_code == 200, response.text
        assert [p["patient_id"] for p in response.json()["predictions"]] == expected


def test_a_key_that_is_a_list_is_a_400(champions, cancer):
    client = keyed_client(champions)
    record = {"patient_id": [1, 2], **dict(zip(FEATURE_COLUMNS, cancer.features[0].tolist(), strict=True))}
    response = client.post("/datasets/breast_cancer/invocations", json={"dataframe_records": [record]})
    assert response.status_code == 400
    assert response.json()["message"] == "column 'patient_id', row 1: a list where one value belongs"


def test_more_columns_than_the_dataset_has_are_refused_before_they_are_read(client):
    records = [{f"c{i}": 0} for i in range(900)]
    response = post(client, json.dumps({"dataframe_records": records}).encode())
    assert response.status_code == 400
    assert "the request has 32 columns; the dataset has 30 features" in response.json()["message"]
    wide = ",".join(f"c{i}" for i in range(90_000)) + "\n" + ",".join(["0"] * 90_000)
    response = post(client, wide.encode(), "text/csv")
    assert response.status_code == 400 and "the request has 90000 columns" in response.json()["message"]


def test_keys_of_mixed_kinds_keep_their_spelling(champions, cancer):
    client = keyed_client(champions)
    features = dict(zip(FEATURE_COLUMNS, cancer.features[0].tolist(), strict=True))
    records = [{"patient_id": key, **features} for key in (12345678901234567890123, "AbC", True)]
    response = client.post("/datasets/breast_cancer/invocations", json={"dataframe_records": records})
    assert response.status_code == 200, response.text
    assert [p["patient_id"] for p in response.json()["predictions"]] == [
        "12345678901234567890123",
        "AbC",
        "true",
    ]
