"""Airflow's REST API, as the stack, the tests and the bench use it: log in, trigger, watch runs."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

from ml_pipeline.basics.errors import ConfigError

DAG_ID = "ml_pipeline"
DAG_FILES = ("ml_pipeline_dag.py", "ml_scoring_dag.py")
NOT_RUN_STATES = ("skipped", "upstream_failed")  # a branch not taken, or a task after a failure
FINISHED_STATES = ("success", "failed", "up_for_retry", "upstream_failed", "skipped")


def task_label(ti: dict) -> str:
    """A task instance's name as the UI shows it: a mapped task's index in brackets."""
    index = ti.get("map_index", -1)
    return ti["task_id"] if index is None or index < 0 else f"{ti['task_id']}[{index}]"


def error_message(stack_trace: str) -> str:
    """An import error's own message, without the traceback: the last exception's text."""
    exception = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception): ")
    lines = stack_trace.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if exception.match(line)]
    if not starts:
        return lines[-1] if lines else ""
    return exception.sub("", "\n".join(lines[starts[-1] :]))


class Api:
    """A client of one API server, on 127.0.0.1. ``logs`` names where to look when it fails."""

    def __init__(self, port: int, logs: str = "the API server's log", log=print, dag_id: str = DAG_ID):
        self.base = f"http://127.0.0.1:{port}"
        self.token: str | None = None
        self.logs = logs
        self.log = log
        self.dag_id = dag_id

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def login(self, user: str, password: str) -> Api:
        answer = self.request("POST", "/auth/token", {"username": user, "password": password})
        self.token = answer["access_token"]
        return self

    def wait_until_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.request("GET", "/api/v2/monitor/health")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"The API server did not answer on {self.base} within {timeout:.0f} s; "
                        f"see {self.logs}."
                    ) from None
                time.sleep(1)

    def wait_for_dag(self, timeout: float = 180) -> list[dict]:
        """Wait until the dag-processor has parsed the DAG; the DAG folder's import errors then (another
        dataset's declaration, say), which fail the wait only while the DAG is missing."""
        deadline = time.monotonic() + timeout
        while True:
            errors = self.request("GET", "/api/v2/importErrors")["import_errors"]
            try:
                self.request("GET", f"/api/v2/dags/{self.dag_id}")
                return errors
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    raise
            # The DAG's own file failing to import: no point waiting for it.
            own = [e for e in errors if Path(e["filename"]).name in DAG_FILES]
            if own or time.monotonic() > deadline:
                details = "".join(f"\n{e['filename']}: {error_message(e['stack_trace'])}" for e in errors)
                raise RuntimeError(f"{self.dag_id} is not in the DAG folder; see {self.logs}.{details}")
            time.sleep(1)

    def unfinished_runs(self) -> list[str]:
        """The DAG's runs that are queued or running."""
        path = f"/api/v2/dags/{self.dag_id}/dagRuns?state=queued&state=running&limit=100"
        return [run["dag_run_id"] for run in self.request("GET", path)["dag_runs"]]

    def set_paused(self, paused: bool) -> bool:
        """Pause or un-pause the DAG; whether it was paused before."""
        before = self.request("GET", f"/api/v2/dags/{self.dag_id}")["is_paused"]
        if before != paused:
            self.request("PATCH", f"/api/v2/dags/{self.dag_id}", {"is_paused": paused})
        return before

    def start_run(self, run_date: date, conf: dict) -> tuple[str, set[tuple]]:
        """Trigger the run for ``run_date``, or clear and re-run it if that date already has one; a
        re-run keeps the conf it was started with, so another conf is refused (ConfigError).

        Returns the run id and the task attempts the run had made before.
        """
        logical_date = datetime(run_date.year, run_date.month, run_date.day, tzinfo=UTC)
        existing = self.request(
            "GET",
            f"/api/v2/dags/{self.dag_id}/dagRuns?logical_date_gte={quote(logical_date.isoformat())}"
            f"&logical_date_lte={quote(logical_date.isoformat())}",
        )["dag_runs"]
        if existing and conf and conf != existing[0]["conf"]:
            raise ConfigError(
                f"The run of {run_date} already exists ({existing[0]['dag_run_id']}), started with conf "
                f"{json.dumps(existing[0]['conf'])}, which a re-run keeps. To run that date with "
                f"{json.dumps(conf)}, delete that run first (the UI's Dag Runs list); to re-run it as it "
                "was, leave out --conf."
            )
        elif existing:
            run_id = existing[0]["dag_run_id"]
            earlier = self.task_attempts(run_id)
            self.request(
                "POST",
                f"/api/v2/dags/{self.dag_id}/clearTaskInstances",
                {"dag_run_id": run_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True},
            )
            self.log(f"Re-running {run_id} (the run of {run_date} already existed).")
            return run_id, earlier
        run = self.trigger({"logical_date": logical_date.isoformat(), "conf": conf})
        return run["dag_run_id"], set()

    def trigger(self, body: dict) -> dict:
        """A new run of the DAG (``logical_date`` may be None, as for a run triggered in the UI)."""
        run = self.request("POST", f"/api/v2/dags/{self.dag_id}/dagRuns", body)
        self.log(f"Triggered {run['dag_run_id']}.")
        return run

    def task_instances(self, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{self.dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100"
        return self.request("GET", path)["task_instances"]

    def task_attempts(self, run_id: str) -> set[tuple]:
        """(task, try number) of every task attempt the run has made so far."""
        return {(task_label(ti), ti["try_number"]) for ti in self.task_instances(run_id)}

    def watch_run(self, run_id: str, timeout: float, earlier: set[tuple] = frozenset()) -> str:
        """Print each task as it starts and ends; return the run's final state.

        ``earlier`` holds the attempts made before this call (by a cleared run), which are not shown.
        """
        started, ended = set(earlier), set(earlier)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ti in sorted(self.task_instances(run_id), key=lambda ti: ti["start_date"] or "~"):
                attempt = (task_label(ti), ti["try_number"])
                # A cleared task keeps its last attempt's start and host until it runs again.
                ran = ti["state"] in ("running", *FINISHED_STATES) and ti["state"] not in NOT_RUN_STATES
                if ran and attempt not in started:
                    started.add(attempt)
                    where = f", on {ti['hostname']}" if ti.get("hostname") else ""
                    self.log(f"  started   {attempt[0]}  (try {ti['try_number']}{where})")
                if ti["state"] in FINISHED_STATES and attempt not in ended:
                    ended.add(attempt)
                    took = f"{ti['duration']:.1f} s" if ti.get("duration") else ""
                    self.log(f"  {ti['state']:<9} {attempt[0]}  {took}")
            run = self.request("GET", f"/api/v2/dags/{self.dag_id}/dagRuns/{quote(run_id, safe='')}")
            state = run["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        raise TimeoutError(f"{run_id} did not finish within {timeout:.0f} s.")

    def run_states(self, first: date, last: date) -> dict[str, str]:
        """The state of each run of the DAG with a logical date in [first, last]."""
        query = (
            f"/api/v2/dags/{self.dag_id}/dagRuns?limit=1000"
            f"&logical_date_gte={quote(f'{first.isoformat()}T00:00:00+00:00')}"
            f"&logical_date_lte={quote(f'{last.isoformat()}T23:59:59+00:00')}"
        )
        return {run["dag_run_id"]: run["state"] for run in self.request("GET", query)["dag_runs"]}

    def open_backfills(self) -> list[dict]:
        """The DAG's backfills not yet completed."""
        path = f"/api/v2/backfills?dag_id={quote(self.dag_id)}&limit=100"
        return [
            backfill
            for backfill in self.request("GET", path)["backfills"]
            if backfill["completed_at"] is None
        ]

    def close_finished_backfills(self) -> list[dict]:
        """Close the DAG's open backfills whose runs have all ended (the scheduler closes one only on
        its next loop, and a stack stopped before that left it open); the ones still running."""
        running = []
        for backfill in self.open_backfills():
            dates = [date.fromisoformat(backfill[end][:10]) for end in ("from_date", "to_date")]
            states = self.run_states(*dates)
            if all(state in ("success", "failed") for state in states.values()):
                self.request("PUT", f"/api/v2/backfills/{backfill['id']}/cancel")
                self.log(f"Closed the earlier backfill of {dates[0]} .. {dates[1]}: its runs had all ended.")
            else:
                unfinished = {
                    run: state for run, state in states.items() if state not in ("success", "failed")
                }
                running.append({**backfill, "dates": dates, "unfinished": unfinished})
        return running

    def stop_backfill(self, first: date, last: date, fail_running: bool) -> dict[str, str]:
        """End the DAG's open backfill of [first, last]: its queued runs fail (Airflow's cancel), and
        with ``fail_running`` so do its running ones; the state of each of its runs then."""
        for backfill in self.open_backfills():
            self.request("PUT", f"/api/v2/backfills/{backfill['id']}/cancel")
        if fail_running:
            for run_id, state in self.run_states(first, last).items():
                if state not in ("success", "failed"):
                    path = f"/api/v2/dags/{self.dag_id}/dagRuns/{quote(run_id, safe='')}"
                    self.request("PATCH", path, {"state": "failed", "note": "stopped by make backfill"})
        return self.run_states(first, last)

    def watch_runs(self, first: date, last: date, timeout: float) -> dict[str, str]:
        """Wait until every run of the DAG with a logical date in [first, last] has ended."""
        deadline, reported = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            runs = self.run_states(first, last)
            for run_id, state in runs.items():
                if state in ("success", "failed") and run_id not in reported:
                    reported[run_id] = state
                    self.log(f"  {state:<9} {run_id}")
            if runs and all(state in ("success", "failed") for state in runs.values()):
                return dict(sorted(runs.items()))
            time.sleep(2)
        raise TimeoutError(f"The backfill's runs did not all end within {timeout:.0f} s.")
