"""What the stack's commands tell while a backfill waits and after a run failed."""

from __future__ import annotations

import json
import shutil
from datetime import date

import pytest

from ml_pipeline_stack.failures import failed_task_errors, missing_files
from samples import CHURN, DATASETS_DIR


def test_a_backfill_names_the_days_whose_file_has_not_arrived(tmp_path, monkeypatch):
    datasets = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)
    (datasets / "churn.toml").write_text(CHURN)
    incoming = tmp_path / "data" / "incoming" / "churn"
    incoming.mkdir(parents=True)
    (incoming / "2026-02-01.csv").write_text("customer_age,monthly_spend,support_calls,outcome\n")
    (incoming / "2026-02-03.parquet").write_bytes(b"")
    monkeypatch.setenv("ML_PIPELINE_DATASETS_DIR", str(datasets))
    monkeypatch.setenv("ML_PIPELINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ML_PIPELINE_WAIT_TIMEOUT_HOURS", "2")
    told = missing_files("churn", date(2026, 2, 1), date(2026, 2, 4))
    assert told.startswith(f"No file yet for 2026-02-02, 2026-02-04 in {incoming}/")
    assert "up to 2 h (wait_timeout_hours)" in told
    assert missing_files("breast_cancer", date(2026, 2, 1), date(2026, 2, 4)) is None  # no drop folder


def test_a_failed_task_is_named_with_the_error_its_last_try_logged(tmp_path):
    logs = tmp_path / "run_id=manual__1"
    (logs / "task_id=fetch_batch").mkdir(parents=True)
    records = [
        {"level": "info", "event": "Starting"},
        {
            "level": "error",
            "event": "Task failed with exception",
            "error_detail": [
                {"exc_type": "AirflowFailException", "exc_value": "Batch rejected: 2 missing column(s)"}
            ],
        },  # fmt: skip
    ]
    (logs / "task_id=fetch_batch" / "attempt=2.log").write_text("\n".join(map(json.dumps, records)))
    task_instances = [
        {"task_id": "fetch_batch", "state": "failed", "try_number": 2, "map_index": -1},
        {"task_id": "split_batch", "state": "upstream_failed", "try_number": 0, "map_index": -1},
        {"task_id": "cross_validate_chunk", "state": "failed", "try_number": 1, "map_index": 3},
    ]
    errors = failed_task_errors(logs, task_instances)
    assert errors[0] == ("fetch_batch", "AirflowFailException: Batch rejected: 2 missing column(s)")
    assert errors[1][0] == "cross_validate_chunk" and "map_index=3/attempt=1.log" in errors[1][1]
    assert len(errors) == 2


def test_a_run_of_a_declaration_that_cannot_be_used_names_its_problem_before_anything_starts(
    tmp_path, monkeypatch, capsys
):
    from ml_pipeline_stack import cli

    datasets = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)
    (datasets / "churn.toml").write_text(CHURN.replace('label = "outcome"', 'label = "Outcome!"'))
    monkeypatch.setenv("ML_PIPELINE_DATASETS_DIR", str(datasets))
    monkeypatch.setenv("ML_PIPELINE_STATE_DIR", str(tmp_path / "stack"))
    for command in (["run", "--dataset", "churn"], ["backfill", "--dataset", "churn", "--from", "2026-02-01",
                                                    "--to", "2026-02-02"]):  # fmt: skip
        assert cli.main(command) == 2
        told = capsys.readouterr().out.strip()
        assert told == (
            f"{datasets / 'churn.toml'} cannot be used: column 'Outcome!' is not a plain SQL column name; "
            "write it as 'outcome'."
        )
    assert not (tmp_path / "stack").exists(), "nothing was started"


class StoppedApi:
    """The API of a stack whose backfill is stopped: one run done, one running, one queued."""

    def __init__(self):
        self.asked = None

    def stop_backfill(self, first, last, fail_running):
        self.asked = (first, last, fail_running)
        ending = "failed" if fail_running else "running"
        return {"backfill__2026-02-01": "success", "backfill__2026-02-02": ending,
                "backfill__2026-02-03": "failed"}  # fmt: skip


def test_a_stopped_backfill_says_what_ran_and_what_goes_on(capsys):
    from ml_pipeline_stack.backfill import stopped_backfill

    for owned in (True, False):
        api = StoppedApi()
        assert stopped_backfill(api, "ml_pipeline_churn", date(2026, 2, 1), date(2026, 2, 3), owned) == 130
        told = capsys.readouterr().out
        assert api.asked == (date(2026, 2, 1), date(2026, 2, 3), owned), "its own services: nothing goes on"
        assert told.startswith("Stopping the backfill of ml_pipeline_churn, 2026-02-01 .. 2026-02-03 ...\n")
        assert "  success   backfill__2026-02-01\n" in told
        if owned:
            assert "  failed    backfill__2026-02-02\n" in told
            assert "`make backfill` with REPROCESS=failed runs them again" in told
        else:
            assert "  running   backfill__2026-02-02\n" in told
            assert "go on in the running stack (`make up`)" in told and "No new run of this backfill" in told


def test_an_import_error_is_told_by_its_message_without_the_traceback():
    from ml_pipeline_stack.api import error_message

    trace = (
        "Traceback (most recent call last):\n"
        '  File "dags/ml_pipeline_declarations.py", line 22, in <module>\n'
        "    raise DatasetError(...)\nml_pipeline.datasets.DatasetError: datasets/a.toml cannot be used: x.\n"
        "datasets/b.toml is not valid TOML: y."
    )
    assert error_message(trace) == "datasets/a.toml cannot be used: x.\ndatasets/b.toml is not valid TOML: y."


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            '{"cv_fold": 3}',
            "Invalid pipeline settings: DAG param cv_fold is not a setting (the nearest is cv_folds).",
        ),
        (
            "{cv_folds: 3}",
            "--conf is not JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
            "(char 1)); write it as '{\"cv_folds\": 3}'",
        ),
        ("[3]", "--conf is [3]; write the run's params as an object: '{\"cv_folds\": 3}'"),
        (
            '{"data_dir": "/srv"}',
            "Invalid pipeline settings: data_dir is a deployment setting, which a run cannot "
            "set: set ML_PIPELINE_DATA_DIR where the pipeline is deployed.",
        ),
    ],
)
def test_a_run_s_conf_is_checked_before_anything_starts(tmp_path, monkeypatch, capsys, conf, message):
    monkeypatch.setenv("ML_PIPELINE_STATE_DIR", str(tmp_path / "state"))
    from ml_pipeline_stack import cli

    assert cli.main(["run", "--date", "2026-03-04", "--conf", conf]) == 2
    assert capsys.readouterr().out == message + "\n"
    assert not (tmp_path / "state").exists(), "nothing was started"
