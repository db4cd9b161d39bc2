"""A newcomer's first week, as the README tells it, on a stack of its own: their CSV declared by
`make declare`, a week of `make backfill` with one day's file missing, and new rows scored by
`make predict` and joined back to their customers by the key column. No step prints a traceback."""

import csv
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from samples import DATASETS_DIR, churn_frame
from stack import Stack

pytestmark = pytest.mark.stack  # starts Airflow's services: not in make test-unit

WEEK = [date(2026, 6, 1) + timedelta(days=n) for n in range(7)]
MISSING = WEEK[3]
NEXT_DAY = WEEK[-1] + timedelta(days=1)  # its file never comes: its backfill is stopped with Ctrl-C
WINDOW_DAY = NEXT_DAY + timedelta(days=1)  # run by hand, on the batches of its last three days


def export(rows: int, seed: int, first_id: int):
    """The user's daily export: their churn table with a customer id beside each row."""
    frame = churn_frame(rows, seed)
    frame.insert(1, "Customer ID", [f"C-{first_id + n:05d}" for n in range(rows)])
    return frame


def scheduled_run(stack, incoming, timeout: float = 300) -> dict:
    """`make up` with its daily schedule on, and the newcomer switching on ml_pipeline_churn in the UI:
    the scheduler's own run of today, once it has ended, with today's file already in the drop folder."""
    today = datetime.now(UTC).date()
    for day in (today - timedelta(days=1), today):  # the schedule's latest day, by either reckoning
        export(300, 10, 10_000).to_csv(incoming / f"{day}.csv", index=False)
    stack.env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "True"
    stack.steps["up"] = stack("up")
    api = stack.api()
    api.dag_id = "ml_pipeline_churn"
    api.set_paused(False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.request("GET", "/api/v2/dags/ml_pipeline_churn/dagRuns?run_type=scheduled")["dag_runs"]
        if runs and runs[0]["state"] in ("success", "failed"):
            return runs[0]
        time.sleep(2)
    pytest.fail(f"No scheduled run of ml_pipeline_churn ended within {timeout:.0f} s of switching it on")


def champion_date(stack) -> date:
    with stack.connect() as db:
        return db.execute(
            "SELECT e.run_date FROM models m JOIN experiments e USING (experiment_id)"
            " WHERE m.dataset = 'churn' AND m.status = 'champion'"
        ).fetchone()[0]


def interrupted_backfill(stack, first: date, last: date, timeout: float = 600) -> subprocess.CompletedProcess:
    """`make backfill` of ``first`` .. ``last``, stopped with Ctrl-C once ``first``'s run has succeeded and
    ``last``'s waits for its file."""
    command = [sys.executable, "-m", "ml_pipeline_stack", "backfill", "--dataset", "churn",
               "--from", str(first), "--to", str(last)]  # fmt: skip
    process = subprocess.Popen(
        command, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines, deadline = [], time.monotonic() + timeout
    while not any(line.startswith(f"No file yet for {last}") for line in lines):
        line = process.stdout.readline()
        if not line or time.monotonic() > deadline:
            process.kill()
            pytest.fail("The backfill never said it waits for a file:\n" + "".join(lines))
        lines.append(line)
    first_run = f"/api/v2/dags/ml_pipeline_churn/dagRuns?run_id_pattern=backfill__{first}%25"
    while [run["state"] for run in stack.api().request("GET", first_run)["dag_runs"]] != ["success"]:
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"The backfill's run of {first} did not succeed within {timeout:.0f} s")
        time.sleep(2)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(command, process.returncode, "".join(lines) + rest, "")


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("week"))
    datasets = stack.base / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)
    stack.env.update(ML_PIPELINE_DATASETS_DIR=str(datasets), ML_PIPELINE_WAIT_TIMEOUT_HOURS="0.01")
    sample = stack.base / "exports" / "churn-sample.csv"
    sample.parent.mkdir()
    export(200, 0, 0).to_csv(sample, index=False)
    incoming = stack.base / "data" / "incoming" / "churn"
    incoming.mkdir(parents=True)
    for number, day in enumerate(WEEK, start=1):
        if day != MISSING:
            export(300, number, number * 1000).to_csv(incoming / f"{day}.csv", index=False)
    try:
        stack.steps = {
            "declare": stack(
                "pipeline",
                "declare",
                "churn",
                "--from",
                str(sample),
                "--label",
                "Outcome",
                "--key",
                "Customer ID",
            ),
            "backfill": stack(
                "backfill", "--dataset", "churn", "--from", str(WEEK[0]), "--to", str(WEEK[-1]), check=False
            ),
        }
        export(300, 4, 4000).to_csv(incoming / f"{MISSING}.csv", index=False)  # the late file arrives
        stack.steps["late day, then stopped"] = interrupted_backfill(stack, MISSING, NEXT_DAY)
        export(300, 9, 9000).to_csv(incoming / f"{WINDOW_DAY}.csv", index=False)
        stack.champion_date = champion_date(stack)
        stack.steps["window"] = stack(
            "run", "--dataset", "churn", "--date", str(WINDOW_DAY), "--conf", '{"training_window_days": 3}'
        )
        stack.scheduled = scheduled_run(stack, incoming)
        stack.new_rows = stack.base / "exports" / "new-customers.csv"
        export(50, 99, 90000).drop(columns="Outcome").to_csv(stack.new_rows, index=False)
        stack.scored = stack.base / "exports" / "scored.csv"
        stack.steps["predict"] = stack(
            "pipeline", "predict", "--dataset", "churn", "--input", str(stack.new_rows),
            "--output", str(stack.scored),
        )  # fmt: skip
        yield stack
    finally:
        stack("down", check=False)


def test_declare_writes_a_declaration_from_the_sample(week):
    told = week.steps["declare"].stdout
    assert f"Declared churn in {week.base / 'datasets' / 'churn.toml'}: 3 features" in told
    text = (week.base / "datasets" / "churn.toml").read_text()
    assert 'features = ["customer_age", "monthly_spend", "support_calls"]' in text
    assert 'classes = ["churned", "stayed"]' in text and 'key = "customer_id"' in text


def test_the_backfill_names_the_missing_day_and_trains_on_every_other(week):
    backfill = week.steps["backfill"]
    assert backfill.returncode == 1, "one day of the week failed"
    assert "Backfill of ml_pipeline_churn (churn)" in backfill.stdout
    assert f"No file yet for {MISSING} in {week.base / 'data' / 'incoming' / 'churn'}/" in backfill.stdout
    assert "up to 0.01 h (wait_timeout_hours)" in backfill.stdout
    outcomes = {
        line.split(": ")[0]: line.split(": ")[1]
        for line in backfill.stdout.splitlines()
        if line.startswith("backfill__") and ": " in line
    }
    assert f"backfill__{MISSING}T00:00:00+00:00: failed\n  wait_for_batch_file failed: " in backfill.stdout
    assert {run_id[10:20]: state for run_id, state in outcomes.items()} == {
        str(day): "failed" if day == MISSING else "success" for day in WEEK
    }
    with week.connect() as db:
        versions = dict(
            db.execute(
                "SELECT e.run_date, m.version FROM models m JOIN experiments e USING (experiment_id) "
                "WHERE m.dataset = 'churn'"
            ).fetchall()
        )
    versions = {day: version for day, version in versions.items() if day in WEEK}
    assert sorted(versions) == WEEK, "every day, the late one once its file came"
    assert versions.pop(MISSING) == 7 and sorted(versions.values()) == [1, 2, 3, 4, 5, 6], (
        "churn counts its own versions"
    )


def test_the_late_day_is_backfilled_once_its_file_arrives_and_ctrl_c_says_what_ran(week):
    stopped = week.steps["late day, then stopped"]
    assert stopped.returncode == 130
    assert (
        f"No file yet for {NEXT_DAY} in" in stopped.stdout
        and f"No file yet for {MISSING}" not in stopped.stdout
    )
    assert f"Stopping the backfill of ml_pipeline_churn, {MISSING} .. {NEXT_DAY} ..." in stopped.stdout
    assert f"  success   backfill__{MISSING}T00:00:00+00:00\n" in stopped.stdout
    assert f"  failed    backfill__{NEXT_DAY}T00:00:00+00:00\n" in stopped.stdout
    assert "`make backfill` with REPROCESS=failed runs them again" in stopped.stdout
    assert "Stopping Airflow ..." in stopped.stdout
    with week.connect() as db:
        assert db.execute(
            "SELECT count(*) FROM batches WHERE dataset = 'churn' AND batch_date = %s", (MISSING,)
        ).fetchone() == (1,)
    backfills = week.api().request("GET", "/api/v2/backfills?dag_id=ml_pipeline_churn")["backfills"]
    assert backfills and all(backfill["completed_at"] for backfill in backfills), (
        "none left open to block the next"
    )


def test_a_run_by_hand_starts_and_stops_airflow_and_trains_on_its_window(week):
    run = week.steps["window"].stdout
    assert run.startswith("Starting Airflow") and "Stopping Airflow ..." in run
    # The window's days with a batch: NEXT_DAY has none (its backfill was stopped), so 2 x 300 rows.
    assert f"batch        300 rows on {WINDOW_DAY} (train 480, test 120)" in run
    judged = re.search(r"on the (\d+) of 120 test rows that neither model trained on", run)
    assert judged, run
    champion_in_window = WINDOW_DAY - timedelta(days=2) <= week.champion_date <= WINDOW_DAY
    assert (int(judged[1]) < 120) == champion_in_window, "the champion's own rows are left out"


def test_the_daily_schedule_runs_today_once_the_dag_is_switched_on(week):
    day = date.fromisoformat(week.scheduled["logical_date"][:10])
    assert datetime.now(UTC).date() - day <= timedelta(days=1), "the latest day, not a catch-up"
    assert week.scheduled["state"] == "success"
    assert week.scheduled["dag_run_id"].startswith(f"scheduled__{day}")
    with week.connect() as db:
        assert db.execute(
            "SELECT source, row_count FROM batches WHERE dataset = 'churn' AND batch_date = %s", (day,)
        ).fetchone() == ("drop_folder", 300)


def test_new_rows_are_scored_and_joined_back_by_their_key(week):
    with open(week.new_rows, newline="") as stream:
        sent = {row["Customer ID"]: row for row in csv.DictReader(stream)}
    with open(week.scored, newline="") as stream:
        scored = list(csv.DictReader(stream))
    assert list(scored[0])[0] == "Customer ID", "the key first, as the file spells it"
    assert {row["Customer ID"] for row in scored} == set(sent) and len(scored) == len(sent)
    for row in scored:
        assert row["Customer Age"] == sent[row["Customer ID"]]["Customer Age"]
        assert abs(float(row["probability_churned"]) + float(row["probability_stayed"]) - 1) < 1e-9
        assert row["predicted_label"] in ("churned", "stayed")


def test_no_step_prints_a_traceback(week):
    for name, step in week.steps.items():
        print(f"$ {name}\n{step.stdout}{step.stderr}")
        assert "Traceback" not in step.stdout + step.stderr, name
