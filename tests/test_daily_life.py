"""A model in daily use, for real, on a stack whose scheduler schedules (as `make up` runs it):
a promoted champion is scored through its Asset by the scoring DAG; each tuning mode; and the drift
check, which keeps the champion when a batch comes from a shifted distribution.

The dataset is declared without a time schedule, so the only runs are the ones asked for and the
ones the champion Asset schedules.
"""

import json
import shutil
import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from stack import Stack

pytestmark = pytest.mark.stack  # starts Airflow's services: not in make test-unit

FEATURES = [f"sensor_{n}" for n in range(1, 10)]
SENSORS = f"""
description = "Synthetic sensor readings: a fault, or none."
features = {json.dumps(FEATURES)}
label = "fault"
classes = [0, 1]
schedule = "none"
[source]
kind = "synthetic"
rows = 4000
"""
# 2026-06-07 and 2026-06-14 are Sundays, when weekly tuning searches the grid.
RUNS = {
    "first": ("2026-06-07", {}),
    "reuse": ("2026-06-08", {"tuning": "reuse"}),
    "weekly_grid": ("2026-06-14", {"tuning": "weekly"}),
    "weekly_reuse": ("2026-06-15", {"tuning": "weekly"}),
    "shifted": ("2026-06-16", {"tuning": "reuse", "synthetic_shift": 2.0}),
    "unshifted": ("2026-06-17", {"tuning": "reuse"}),
    "shifted_fails": ("2026-06-18", {"tuning": "reuse", "synthetic_shift": 2.0, "on_drift": "fail"}),
}
SHIFTED = FEATURES[: len(FEATURES) // 3]
SCORE_DATE = "2026-06-17"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("daily"))
    datasets = stack.base / "datasets"
    datasets.mkdir()
    (datasets / "sensors.toml").write_text(SENSORS)
    stack.env.update(
        ML_PIPELINE_DATASETS_DIR=str(datasets),
        ML_PIPELINE_DATASET="sensors",
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="True",
    )
    stack("up")
    try:
        stack.runs = {}
        for name, (day, conf) in RUNS.items():
            stack.runs[name] = stack(
                "run", "--date", day, "--conf", json.dumps(conf), check=name != "shifted_fails"
            )
            if name == "first":
                stack.asset_run = wait_for_asset_triggered_run(stack)
                stack.asset_scores = predictions(stack)
        stack.scored = [stack("run", "--scoring", "--date", SCORE_DATE) for _ in range(2)]
        stack.scored_rows = [predictions(stack, SCORE_DATE)]
        yield stack
    finally:
        stack("down", check=False)
        shutil.rmtree(stack.base / "data", ignore_errors=True)


def wait_for_asset_triggered_run(stack, timeout: float = 180) -> dict:
    api = stack.api()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.request("GET", "/api/v2/dags/ml_scoring_sensors/dagRuns")["dag_runs"]
        done = [
            run
            for run in runs
            if run["run_type"] == "asset_triggered" and run["state"] in ("success", "failed")
        ]
        if done:
            run = done[0]
            run_path = f"/api/v2/dags/ml_scoring_sensors/dagRuns/{quote(run['dag_run_id'], safe='')}"
            path = f"{run_path}/upstreamAssetEvents"
            run["events"] = api.request("GET", path)["asset_events"]
            return run
        time.sleep(2)
    pytest.fail(f"No asset-triggered run of ml_scoring_sensors within {timeout:.0f} s of the first promotion")


def predictions(stack, day: str | None = None) -> list[tuple]:
    with stack.connect() as db:
        return db.execute(
            "SELECT score_date, model_version, count(*), min(scored_at), max(scored_at) FROM predictions"
            " WHERE %(day)s::date IS NULL OR score_date = %(day)s GROUP BY 1, 2",
            {"day": day},
        ).fetchall()


def rows(stack, query: str, params=None) -> list[tuple]:
    with stack.connect() as db:
        return db.execute(query, params).fetchall()


def test_a_promoted_champion_is_scored_through_its_asset(stack):
    champion, sha256 = rows(stack, "SELECT version, sha256 FROM models WHERE status = 'champion'")[0]
    run = stack.asset_run
    assert run["state"] == "success"
    assert [
        (event["extra"]["dataset"], event["extra"]["version"], event["extra"]["sha256"])
        for event in run["events"]
    ] == [("sensors", champion, sha256)]
    assert run["events"][0]["uri"] == "x-ml-pipeline://models/sensors/champion"
    run_day = datetime.fromisoformat(run["run_after"]).astimezone(UTC).date()
    # The rows of the run's day, all 4000, by the new champion.
    assert [(day, version, count) for day, version, count, *_ in stack.asset_scores] == [
        (run_day, champion, 4000)
    ]
    assert "skipped   after_crossvalidation.announce_champion" in stack.runs["reuse"].stdout


def test_rescoring_a_date_replaces_its_scores(stack):
    second = stack.scored[1]
    (day, version, count, earliest, latest) = stack.scored_rows[0][0]
    assert str(day) == SCORE_DATE and count == 4000 and earliest == latest  # one scoring's rows only
    assert "rows predicted" in second.stdout
    latest_view = rows(
        stack, "SELECT count(*), min(model_status) FROM latest_predictions WHERE dataset = 'sensors'"
    )
    assert latest_view == [(4000, "champion")]


def test_each_tuning_mode_runs_the_grid_or_reuses_the_champions_parameters(stack):
    found = dict(
        (str(day), (tuning, from_version, cv, candidates))
        for day, tuning, from_version, cv, candidates in rows(
            stack,
            "SELECT e.run_date, e.tuning, e.params_from_version, e.cv_mean_score,"
            " (SELECT count(*) FROM cv_results r WHERE r.experiment_id = e.experiment_id)"
            " FROM experiments e",
        )
    )
    (first_version,) = rows(stack, "SELECT min(version) FROM models")[0]
    for name, expected in (
        ("first", "grid"),
        ("reuse", "reuse"),
        ("weekly_grid", "grid"),
        ("weekly_reuse", "reuse"),
    ):
        tuning, from_version, cv, candidates = found[RUNS[name][0]]
        assert tuning == expected, name
        output = stack.runs[name].stdout
        if expected == "grid":
            assert cv is not None and candidates == len(FEATURES) * 7 and from_version is None
            assert "success   split_batch" in output and "success   cross_validate_chunk[0]" in output
        else:
            assert cv is None and candidates == 0 and from_version == first_version
            assert "skipped   split_batch" in output and "skipped   cross_validate_chunk" in output
            assert "tuning reused champion version" in output


def test_a_shifted_batch_keeps_the_champion_and_names_the_drifted_features(stack):
    champions = rows(stack, "SELECT version FROM models WHERE status = 'champion'")
    assert champions == [(1,)]
    reasons = dict(
        (str(day), (status, reason))
        for day, status, reason in rows(
            stack,
            "SELECT e.run_date, m.status, m.status_reason FROM models m JOIN experiments e"
            " USING (experiment_id)",
        )
    )
    status, reason = reasons[RUNS["shifted"][0]]
    assert status == "challenger"
    assert reason.startswith("kept as a challenger: data drift against champion version 1's training data")
    assert all(feature in reason for feature in SHIFTED) and FEATURES[-1] not in reason
    drifted = rows(stack, "SELECT run_date::text, name FROM drift WHERE drifted ORDER BY run_date, name")
    assert drifted == [
        (day, f) for day in (RUNS["shifted"][0], RUNS["shifted_fails"][0]) for f in sorted(SHIFTED)
    ]
    plots = list((stack.base / "models" / "sensors" / RUNS["shifted"][0]).glob("*.drift.png"))
    assert len(plots) == 1 and plots[0].read_bytes().startswith(b"\x89PNG")
    # Each batch's sketches, stored with it: what the check reads instead of the rows.
    sketched = rows(stack, "SELECT count(DISTINCT batch_date), count(*) FROM batch_quantiles")
    assert sketched == [(len(RUNS), len(RUNS) * len(FEATURES))]


def test_an_unshifted_batch_passes_the_check(stack):
    checked = rows(
        stack,
        "SELECT count(*), max(psi), bool_or(drifted) FROM drift WHERE run_date = %s",
        (RUNS["unshifted"][0],),
    )
    assert checked == [(len(FEATURES) + 1, 0.0, False)]  # the synthetic source draws the same rows each day
    (reason,) = rows(
        stack,
        "SELECT m.status_reason FROM models m JOIN experiments e USING (experiment_id) WHERE e.run_date = %s",
        (RUNS["unshifted"][0],),
    )[0]
    assert "drift" not in reason


def test_on_drift_fail_fails_the_run_with_the_reason(stack):
    result = stack.runs["shifted_fails"]
    assert result.returncode == 1
    assert "failed    after_crossvalidation.promote_model" in result.stdout
    # The run's own output names the reason: no log file to open.
    told = next(
        line for line in result.stdout.splitlines() if "after_crossvalidation.promote_model failed:" in line
    )
    assert "data drift against champion version 1" in told and "make promote VERSION" in told
    logs = stack.layout.logs / "dag_id=ml_pipeline_sensors"
    messages = [
        path.read_text()
        for path in logs.rglob("*.log")
        if "task_id=after_crossvalidation.promote_model" in str(path)
    ]
    assert any(
        "data drift against champion version 1" in text and "make promote VERSION" in text
        for text in messages
    )
