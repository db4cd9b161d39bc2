"""The drop-folder source waits for its file, and says which file when it gives up."""

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout

from ml_pipeline.tasks.sensors import BatchFileSensor

DAY = date(2026, 5, 1)


@pytest.fixture
def context(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PIPELINE_DATA_DIR", str(tmp_path))
    when = datetime(2026, 5, 1, tzinfo=UTC)

    def make(source):
        return {
            "logical_date": when,
            "dag_run": SimpleNamespace(run_after=when),
            "run_id": "manual__t",
            "params": {"source": source},
        }

    return make


def test_other_sources_pass_at_once(context):
    assert BatchFileSensor(task_id="wait").poke(context("declared")) is True
    assert BatchFileSensor(task_id="wait").poke(context("synthetic")) is True


def test_drop_folder_waits_for_the_days_file(context, tmp_path):
    sensor = BatchFileSensor(task_id="wait")
    assert sensor.poke(context("drop_folder")) is False
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / "2026-04-30.csv").write_text("yesterday's")
    assert sensor.poke(context("drop_folder")) is False
    (tmp_path / "incoming" / f"{DAY}.csv").write_text("today's")
    assert sensor.poke(context("drop_folder")) is True


@pytest.mark.parametrize("suffix", [".csv.gz", ".parquet"])
def test_drop_folder_takes_compressed_and_parquet_files(context, tmp_path, suffix):
    (tmp_path / "incoming").mkdir()
    (tmp_path / "incoming" / f"{DAY}{suffix}").write_bytes(b"today's")
    assert BatchFileSensor(task_id="wait").poke(context("drop_folder")) is True


def test_timeout_names_the_expected_file(context, tmp_path):
    sensor = BatchFileSensor(task_id="wait", mode="poke", timeout=0, poke_interval=0)
    with pytest.raises(AirflowSensorTimeout) as caught:
        sensor.execute(context("drop_folder"))
    message = str(caught.value)
    assert (
        f"No batch file arrived at {tmp_path / 'incoming' / f'{DAY}.csv'} (or .csv.gz, .parquet)" in message
    )
    assert "clear this task" in message
