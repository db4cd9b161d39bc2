"""A drop folder in an object store (data_dir = s3://bucket/data), against a real S3 API: moto's server on
this machine, reached through an Airflow connection as a deployment would reach its store."""

import io
import json
import socket
import tempfile
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import boto3
import numpy as np
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout
from moto.server import ThreadedMotoServer

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.data_in.sources import fetch_batch
from ml_pipeline.data_in.validation import BatchRejected
from ml_pipeline.tasks import data_in
from ml_pipeline.tasks.sensors import BatchFileSensor
from samples import CHURN, churn_frame

DAY = date(2026, 5, 1)
INCOMING = f"data/incoming/churn/{DAY}"
REJECTED = f"data/rejected/churn/{DAY}/{DAY}"


@pytest.fixture(scope="module")
def endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def connection(monkeypatch, endpoint: str, **config_kwargs) -> str:
    """An aws connection to ``endpoint``, by environment; each test its own (Airflow keeps one
    filesystem per connection for the process)."""
    conn_id = f"data_store_{uuid.uuid4().hex[:8]}"
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1", "config_kwargs": config_kwargs}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture
def store(endpoint, tmp_path, monkeypatch):
    """An empty bucket, and the settings of a churn dataset whose data_dir is s3://<bucket>/data."""
    bucket = f"drops-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    client.create_bucket(Bucket=bucket)
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "churn.toml").write_text(CHURN)
    settings = {
        "ML_PIPELINE_DATASETS_DIR": str(datasets), "ML_PIPELINE_DATASET": "churn",
        "ML_PIPELINE_DATA_DIR": f"s3://{bucket}/data",
        "ML_PIPELINE_DATA_CONN_ID": connection(monkeypatch, endpoint),
    }  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where a read's copy goes
    (tmp_path / "tmp").mkdir()
    return SimpleNamespace(bucket=bucket, client=client, url=f"s3://{bucket}", tmp=tmp_path / "tmp")


def context(params=None) -> dict:
    when = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    return {
        "logical_date": when, "dag_run": SimpleNamespace(run_after=when), "run_id": "manual__t",
        "params": params or {},
    }  # fmt: skip


def put(store, key: str, body: bytes) -> None:
    store.client.put_object(Bucket=store.bucket, Key=key, Body=body)


def keys(store) -> set[str]:
    return {item["Key"] for item in store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])}


def csv_bytes(frame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_the_sensor_waits_for_the_object_then_passes(store):
    sensor = BatchFileSensor(task_id="wait")
    assert sensor.poke(context()) is False
    put(store, "data/incoming/churn/2026-04-30.csv", b"yesterday's")
    assert sensor.poke(context()) is False
    put(store, f"{INCOMING}.csv.gz", b"today's")
    assert sensor.poke(context()) is True
    assert BatchFileSensor(task_id="wait").poke(context({"source": "synthetic"})) is True


def test_the_timeout_names_the_objects_url(store):
    sensor = BatchFileSensor(task_id="wait", mode="poke", timeout=0, poke_interval=0)
    with pytest.raises(AirflowSensorTimeout) as caught:
        sensor.execute(context())
    assert f"No batch file arrived at {store.url}/{INCOMING}.csv (or .csv.gz, .parquet)" in str(caught.value)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_the_days_object_is_read_as_a_local_file_is(store, suffix):
    frame = churn_frame(120)
    buffer = io.BytesIO()
    if suffix == ".parquet":
        frame.to_parquet(buffer, index=False)
    else:
        frame.to_csv(buffer, index=False, compression="gzip" if suffix.endswith("gz") else None)
    put(store, f"{INCOMING}{suffix}", buffer.getvalue())
    batch = fetch_batch(PipelineConfig.from_env(), DAY).batch
    assert batch.feature_names == ("customer_age", "monthly_spend", "support_calls")
    expected = frame[["Customer Age", "Monthly-Spend", "SUPPORT CALLS"]].to_numpy(dtype=float)
    np.testing.assert_array_equal(batch.features, expected)
    np.testing.assert_array_equal(batch.labels, (frame["Outcome"] == "churned").to_numpy())
    assert list(store.tmp.iterdir()) == [], "the local copy is removed once read"
    assert keys(store) == {f"{INCOMING}{suffix}"}, "a good file stays where it is"


def bad_frame():
    frame = churn_frame(120).astype({"Monthly-Spend": object})
    frame.loc[6, "Monthly-Spend"] = "n/a"
    return frame


def test_a_bad_object_is_refused_as_a_local_file_is_and_moved_aside_in_the_store(store, tmp_path):
    datasets = str(tmp_path / "datasets")
    local = PipelineConfig(dataset="churn", datasets_dir=datasets, data_dir=str(tmp_path / "local"))
    (tmp_path / "local" / "incoming" / "churn").mkdir(parents=True)
    (tmp_path / "local" / f"incoming/churn/{DAY}.csv").write_bytes(csv_bytes(bad_frame()))
    with pytest.raises(BatchRejected) as locally:
        fetch_batch(local, DAY)
    assert "line 8" in str(locally.value) and "monthly_spend" in str(locally.value).lower()

    put(store, f"{INCOMING}.csv", csv_bytes(bad_frame()))
    with pytest.raises(AirflowFailException) as caught:
        data_in.fetch_batch.function(**context())
    message = str(caught.value)
    url = f"{store.url}/{INCOMING}.csv"
    assert message.startswith(str(locally.value).replace(str(tmp_path / "local"), f"{store.url}/data"))
    assert f"The file was moved to {store.url}/{REJECTED}.csv, its reasons to " in message
    assert f"Put a corrected file at {url} and clear wait_for_batch_file" in message
    assert keys(store) == {f"{REJECTED}.csv", f"{REJECTED}.csv.reason.txt"}
    reasons = store.client.get_object(Bucket=store.bucket, Key=f"{REJECTED}.csv.reason.txt")["Body"].read()
    assert reasons.decode() == str(locally.value).replace(str(tmp_path / "local"), f"{store.url}/data") + "\n"
    assert list(store.tmp.iterdir()) == []

    put(store, f"{INCOMING}.csv", csv_bytes(bad_frame()))  # the same day sent again, as bad
    with pytest.raises(AirflowFailException, match=f"moved to {store.url}/{REJECTED}.2.csv"):
        data_in.fetch_batch.function(**context())


def test_two_objects_for_the_day_are_refused_and_left_in_place(store):
    put(store, f"{INCOMING}.csv", csv_bytes(churn_frame()))
    put(store, f"{INCOMING}.parquet", b"PAR1")
    with pytest.raises(AirflowFailException) as caught:
        data_in.fetch_batch.function(**context())
    assert str(caught.value) == (
        f"Batch {store.url}/data/incoming/churn rejected, 1 problem(s):\n"
        f"  - 2 files for the day: {DAY}.csv, {DAY}.parquet; leave one"
    )
    assert keys(store) == {f"{INCOMING}.csv", f"{INCOMING}.parquet"}


def test_a_prefix_named_as_the_days_file_ends_the_wait_and_is_refused_in_place(store):
    put(store, f"{INCOMING}.csv/part-0", csv_bytes(churn_frame()))
    assert BatchFileSensor(task_id="wait").poke(context()) is True
    with pytest.raises(AirflowFailException) as caught:
        data_in.fetch_batch.function(**context())
    assert str(caught.value) == (
        f"Batch {store.url}/data/incoming/churn rejected, 1 problem(s):\n"
        f"  - {DAY}.csv is a folder (a prefix of other objects), not a file"
    )
    assert keys(store) == {f"{INCOMING}.csv/part-0"}
    assert list(store.tmp.iterdir()) == []


def test_an_absolute_local_folder_stays_local_beside_a_store(store, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    declaration = CHURN.replace('kind = "drop_folder"', f'kind = "drop_folder"\nfolder = "{shared}"')
    (tmp_path / "datasets" / "churn.toml").write_text(declaration)
    assert BatchFileSensor(task_id="wait").poke(context()) is False
    (shared / f"{DAY}.csv").write_bytes(csv_bytes(churn_frame(120)))
    assert BatchFileSensor(task_id="wait").poke(context()) is True
    assert len(fetch_batch(PipelineConfig.from_env(), DAY).batch.labels) == 120
    (shared / f"{DAY}.csv").write_bytes(csv_bytes(bad_frame()))
    with pytest.raises(AirflowFailException, match=f"moved to {store.url}/{REJECTED}.csv"):
        data_in.fetch_batch.function(**context())
    assert not (shared / f"{DAY}.csv").exists()
    assert keys(store) == {f"{REJECTED}.csv", f"{REJECTED}.csv.reason.txt"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_store_ends_with_one_message_of_what_to_check(store, monkeypatch):
    # One attempt: the client would otherwise retry for some seconds before giving up the same way.
    dead = connection(monkeypatch, f"http://127.0.0.1:{free_port()}", retries={"max_attempts": 1})
    monkeypatch.setenv("ML_PIPELINE_DATA_CONN_ID", dead)
    url = f"{store.url}/data/incoming/churn"
    with pytest.raises(AirflowFailException) as waited:
        BatchFileSensor(task_id="wait").poke(context())
    with pytest.raises(AirflowFailException) as fetched:
        data_in.fetch_batch.function(**context())
    for caught in (waited, fetched):
        message = str(caught.value)
        assert message.startswith(f"Cannot read {url}: Could not connect to the endpoint URL")
        assert f"the Airflow connection {dead!r} (e.g. AIRFLOW_CONN_{dead.upper()}" in message
        assert "\n" not in message and caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_missing_bucket_is_named(store, monkeypatch):
    monkeypatch.setenv("ML_PIPELINE_DATA_DIR", "s3://no-such-bucket/data")
    with pytest.raises(AirflowFailException) as caught:
        BatchFileSensor(task_id="wait").poke(context())
    assert str(caught.value).startswith(
        "Cannot read s3://no-such-bucket/data/incoming/churn: there is no bucket 'no-such-bucket'. Check"
    )


def test_refused_credentials_end_with_one_message_of_what_to_check(store):
    from moto.core.authorization import enable_iam_authentication

    conn_id = PipelineConfig.from_env().data_conn_id
    with enable_iam_authentication(), pytest.raises(AirflowFailException) as caught:  # no such key
        BatchFileSensor(task_id="wait").poke(context())
    message = str(caught.value)
    assert message.startswith(f"Cannot read {store.url}/data/incoming/churn: access denied (Forbidden). ")
    assert f"the credentials of the Airflow connection {conn_id!r}" in message


def test_the_training_window_is_handed_off_through_the_store(store):
    from ml_pipeline.basics.batch import Batch
    from ml_pipeline.data_in.handoff import handoff_root, publish, run_folder, write_bytes
    from ml_pipeline.data_in.window_files import open_window_files
    from ml_pipeline.training.folds import row_blocks

    config = PipelineConfig.from_env()
    dataset = config.declaration()
    rng = np.random.default_rng(0)
    rows = 70_000  # more than one block of the file
    batch = Batch(rng.normal(size=(rows, len(dataset.features))), rng.integers(0, 2, rows, dtype=np.int8),
                  dataset.features)  # fmt: skip
    older = Batch(batch.features[:10], batch.labels[:10], dataset.features)
    publish(config, dataset, older, DAY, older.sha256(), "manual__t")
    write_bytes(run_folder(handoff_root(config), dataset, DAY, "manual__t") / "projections.npz", b"x")
    publish(config, dataset, batch, DAY, batch.sha256(), "manual__t")
    # The replaced batch's file and its run's files are gone; the new one is in the store.
    assert keys(store) == {f"data/handoff/churn/{DAY}/{batch.sha256()}.arrow"}
    # The store's file copied once, then read by blocks of rows as often as a task needs.
    with tempfile.TemporaryDirectory() as folder:
        days = [(DAY, rows, batch.sha256())]
        with open_window_files(None, handoff_root(config), dataset, days, Path(folder)) as files:
            picked = np.arange(3, rows, 7)
            read = np.vstack(list(row_blocks(files, picked, 4096)))
            assert files[:].tobytes() == batch.features.tobytes()
    assert read.tobytes() == batch.features[picked].tobytes()
    assert files.labels.tobytes() == batch.labels.tobytes()
