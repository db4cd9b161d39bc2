"""The CeleryExecutor without Docker: `make up EXECUTOR=celery WORKERS=2`, Redis and two workers on
this machine, each with its own name and its own data folder, sharing nothing but the databases.

One run's CV chunks go to both workers and score exactly what the LocalExecutor scores for the same
date; a worker killed in the middle of a chunk loses nothing: the chunk is retried on the other one.
"""

import json
import os
import signal
import time
from datetime import date
from pathlib import Path

import pytest

from stack import Stack

pytestmark = pytest.mark.stack  # starts Airflow's services: not in make test-unit

SPREAD_DATE, KILL_DATE = "2026-05-01", "2026-05-02"
CONF = {"source": "synthetic", "synthetic_rows": 20_000, "cv_chunks": 4}
WORKERS = ("worker-1", "worker-2")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("celery"))
    # A killed worker's tasks are failed, then retried elsewhere, 20 s after its last heartbeat.
    stack.env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] = "20"
    stack("up", "--executor", "celery", "--workers", "2")
    try:
        stack.spread_run = stack("run", "--date", SPREAD_DATE, "--conf", json.dumps(CONF))
        stack.spread_results = results(stack, SPREAD_DATE)
        stack.spread_chunks = chunks_of(stack, SPREAD_DATE)
        stack.killed = run_killing_a_worker(stack)
        stack.status = stack("status").stdout
        stack("down")
        stack.leftovers = stack.processes()
        stack("up", "--executor", "local")
        stack.local_rerun = stack("run", "--date", SPREAD_DATE)  # the same run, now on the LocalExecutor
        stack.local_results = results(stack, SPREAD_DATE)
        yield stack
    finally:
        stack("down", check=False)


def results(stack, day: str) -> dict:
    with stack.connect() as db:
        return {
            "experiment": db.execute(
                "SELECT best_params, cv_mean_score, test_accuracy, test_roc_auc FROM experiments"
                " WHERE run_date = %s",
                (day,),
            ).fetchall(),
            "cv_results": db.execute(
                "SELECT r.params, r.mean_test_score, r.std_test_score, r.rank_test_score"
                " FROM cv_results r JOIN experiments e USING (experiment_id)"
                " WHERE e.run_date = %s ORDER BY r.candidate",
                (day,),
            ).fetchall(),
        }


def chunks_of(stack, day: str) -> list[dict]:
    api = stack.api()
    run_id = next(
        run["dag_run_id"]
        for run in api.request("GET", "/api/v2/dags/ml_pipeline/dagRuns?limit=100")["dag_runs"]
        if run["logical_date"].startswith(day)
    )
    return [ti for ti in api.task_instances(run_id) if ti["task_id"] == "cross_validate_chunk"]


def kill_worker(stack, name: str, task_pid: int) -> list[int]:
    """The worker's processes and the task process it started, as if its machine went down.

    A worker is the leader of its own process group; a task process leads one of its own."""
    worker = json.loads(stack.layout.stack_file.read_text())["pids"][name]
    for group in (worker, task_pid):
        os.killpg(group, signal.SIGKILL)
    return [worker, task_pid]


def run_killing_a_worker(stack) -> dict:
    conf = dict(CONF, cv_chunks=2, synthetic_rows=40_000)
    api = stack.api()
    run_id, _ = api.start_run(date.fromisoformat(KILL_DATE), conf)
    deadline, victim = time.monotonic() + 300, None
    while victim is None:
        assert time.monotonic() < deadline, "no CV chunk started in time"
        running = [
            ti for ti in api.task_instances(run_id)
            if ti["task_id"] == "cross_validate_chunk" and ti["state"] == "running" and ti["hostname"]
            and ti["pid"]
        ]  # fmt: skip
        if running:  # killed the moment it is seen running: no clock decides whether it had finished
            victim = running[0]
        else:
            time.sleep(0.5)
    killed = kill_worker(stack, victim["hostname"], victim["pid"])
    gone = [pid for pid in killed if not running_process(pid)]
    state = api.watch_run(run_id, 600)
    after = {ti["map_index"]: ti for ti in chunks_of(stack, KILL_DATE)}[victim["map_index"]]
    return {"victim": victim, "killed": killed, "gone": gone, "state": state, "after": after}


def running_process(pid: int, timeout: float = 10) -> bool:
    """Whether ``pid`` still runs (not a zombie) once a kill has had ``timeout`` to take effect."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True


def test_a_run_spreads_its_cv_chunks_over_both_workers(stack):
    chunks = stack.spread_chunks
    assert len(chunks) == 4 and all(ti["state"] == "success" for ti in chunks)
    print("hostnames of the CV chunks:", {ti["map_index"]: ti["hostname"] for ti in chunks})
    assert {ti["hostname"] for ti in chunks} == set(WORKERS)
    assert "CeleryExecutor" in stack.status and "2 workers" in stack.status


def test_workers_share_no_data_folder(stack):
    folders = [stack.base / "data" / "workers" / name for name in WORKERS]
    assert all(folder.is_dir() for folder in folders)


def test_celery_and_the_local_executor_give_the_same_experiment(stack):
    assert "on worker-" not in stack.local_rerun.stdout, "the re-run ran on the LocalExecutor"
    assert stack.local_results == stack.spread_results
    assert len(stack.spread_results["cv_results"]) == 29 * 7


def test_a_chunk_of_a_killed_worker_is_retried_on_the_other(stack):
    killed = stack.killed
    assert killed["gone"] == killed["killed"], "the worker and its task process are gone"
    assert killed["state"] == "success"
    assert killed["after"]["try_number"] == 2
    survivor = next(name for name in WORKERS if name != killed["victim"]["hostname"])
    assert killed["after"]["hostname"] == survivor


def test_down_stops_redis_and_the_workers(stack):
    assert stack.leftovers == []
    assert not stack.layout.redis_socket.exists()
