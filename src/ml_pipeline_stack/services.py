"""Airflow's services for the stack: their environment, the metadata migration, and the processes,
each in its own process group so that stopping one stops every worker it forked."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from ml_pipeline.basics.config import PipelineConfig, available_cores
from ml_pipeline_stack import postgres
from ml_pipeline_stack.layout import ROOT, Layout
from ml_pipeline_stack.worker_name import WORKER_NAME

SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
MODEL_SERVER = "model-server"
LOGIN_USER = "admin"
EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
SCHEDULER_SETTINGS = {
    # When idle, look for finished tasks 4 times a second rather than once: a run's tasks follow each
    # other sooner, for a few milliseconds of CPU.
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
    # The LocalExecutor's tasks start with the libraries they use already imported
    # (ml_pipeline/tasks/preload.py).
    "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
    "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": "ml_pipeline.tasks.preload",
}


def api_port() -> int:
    return int(os.environ.get("AIRFLOW_PORT", "8080"))


def stack_env(layout: Layout, server, scheduled: bool = True, executor: str = "local") -> dict[str, str]:
    """Airflow's settings for this project, on top of the caller's environment."""
    host = postgres.socket_dir(server)
    layout.airflow_home.mkdir(parents=True, exist_ok=True)
    if not layout.jwt_secret_file.exists():
        layout.jwt_secret_file.write_text(secrets.token_urlsafe(32))
    port = api_port()
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(layout.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": EXECUTORS[executor],
            # Tasks mostly wait on PostgreSQL or run CV on all cores: a few slots per core suffice.
            "AIRFLOW__CORE__PARALLELISM": str(max(8, 4 * available_cores())),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{LOGIN_USER}:admin",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": layout.jwt_secret_file.read_text().strip(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
                f"postgresql+psycopg2://{postgres.SUPERUSER}:@/{postgres.METADATA_DB}?host={quote(host)}"
            ),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(layout.logs),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(scheduled),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            **SCHEDULER_SETTINGS,
            f"AIRFLOW_CONN_{PipelineConfig.from_env().conn_id.upper()}": json.dumps(
                {
                    "conn_type": "postgres",
                    "host": host,
                    "login": postgres.SUPERUSER,
                    "schema": postgres.PIPELINE_DB,
                }
            ),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    env.setdefault("ML_PIPELINE_SERVE_TOKEN_FILE", str(layout.serve_token_file))  # beside the UI login's
    if executor == "celery":
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": f"redis+socket://{layout.redis_socket}",
                # Airflow sets its day-long default only for redis:// URLs; below kombu's hour, a task
                # still running would be handed to a second worker.
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
                # Workers side by side on this machine each report a name of their own.
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "ml_pipeline_stack.worker_name.hostname",
                # A worker gone (killed, its machine down) is noticed after a minute, not five: its
                # tasks are then retried on the others.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": os.environ.get(
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", "60"
                ),
            }
        )
    return env


def airflow(env: dict[str, str], *args: str, quiet: bool = True) -> None:
    output = subprocess.DEVNULL if quiet else None
    subprocess.run(["airflow", *args], env=env, check=True, stdout=output)


def prepare(layout: Layout, scheduled: bool = True, log=print, executor: str = "local") -> dict[str, str]:
    """Start PostgreSQL, create both databases, migrate Airflow's metadata once per version."""
    server = postgres.server(layout)
    postgres.ensure_databases(server)
    env = stack_env(layout, server, scheduled, executor)
    import airflow as airflow_package

    stamp = layout.migrated_stamp
    if not stamp.exists() or stamp.read_text() != airflow_package.__version__:
        log("Migrating Airflow's metadata database ...")
        airflow(env, "db", "migrate")
        stamp.write_text(airflow_package.__version__)
    return env


def login_password(layout: Layout) -> str:
    """The UI password of LOGIN_USER, made once per stack."""
    path = layout.passwords_file
    passwords = json.loads(path.read_text()) if path.exists() else {}
    if LOGIN_USER not in passwords:
        passwords[LOGIN_USER] = secrets.token_urlsafe(9)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(passwords))
    return passwords[LOGIN_USER]


def running_stack(layout: Layout) -> dict | None:
    """The services `up` started, if they are still alive."""
    if not layout.stack_file.exists():
        return None
    stack = {"executor": "local", "workers": [], **json.loads(layout.stack_file.read_text())}
    alive = [pid for pid in stack["pids"].values() if _alive(pid)]
    return stack if alive else None


def start_services(
    layout: Layout, env: dict[str, str], executor: str = "local", workers: int = 2, serving: bool = False
) -> dict:
    """Airflow's services; for the CeleryExecutor also Redis and ``workers`` Celery workers, each
    named worker-<n>, with a data folder of its own; with ``serving``, the scoring service."""
    layout.service_logs.mkdir(parents=True, exist_ok=True)
    pids = {}
    if executor == "celery":
        layout.redis_socket.unlink(missing_ok=True)  # left by a Redis that was killed
        pids["redis"] = _start(layout, "redis", env, redis_command(layout))
        _wait_for(layout.redis_socket, "Redis", layout.service_logs / "redis.log")
    for service in SERVICES:
        pids[service] = _start(layout, service, env, ["airflow", service])
    if serving:
        pids[MODEL_SERVER] = _start(layout, MODEL_SERVER, env, [sys.executable, "-m", "ml_pipeline", "serve"])
    names = [f"worker-{number}" for number in range(1, workers + 1)] if executor == "celery" else []
    logs = {name: layout.service_logs / f"{name}.log" for name in names}
    already_logged = {name: log.stat().st_size if log.exists() else 0 for name, log in logs.items()}
    for name in names:
        data = Path(PipelineConfig.from_env().data_dir) / "workers" / name
        data.mkdir(parents=True, exist_ok=True)
        own = dict(env, **{WORKER_NAME: name, "ML_PIPELINE_DATA_DIR": str(data)})
        command = [
            "airflow", "celery", "worker", "--celery-hostname", f"{name}@%h",
            "--concurrency", str(available_cores()),
            # Task logs are files in the stack's logs folder, which the API server reads itself.
            "--skip-serve-logs",
        ]  # fmt: skip
        pids[name] = _start(layout, name, own, command)
    stack = {
        "pids": pids,
        "port": api_port(),
        "executor": executor,
        "workers": names,
        "started_at": datetime.now(UTC).isoformat(),
    }
    layout.stack_file.write_text(json.dumps(stack))
    for name in names:
        _wait_for_line(logs[name], already_logged[name], " ready.", f"Celery worker {name}")
    return stack


def scoring_service(layout: Layout, timeout: float = 30) -> str:
    """Where the scoring service `up` started answers, and its token, once it answers."""
    from ml_pipeline.basics.config import PipelineConfig

    config = PipelineConfig.from_env()
    address = f"http://{config.serve_host}:{config.serve_port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{address}/health", timeout=2)
            break
        except urllib.error.HTTPError:  # 503: it answers, and is loading the champions
            break
        except OSError:
            if time.monotonic() > deadline:
                log = layout.service_logs / f"{MODEL_SERVER}.log"
                return f"The scoring service did not answer on {address}; see {log}."
            time.sleep(0.2)
    token = Path(os.environ.get("ML_PIPELINE_SERVE_TOKEN_FILE", layout.serve_token_file))
    shown = f"token: {token.read_text().strip()}" if token.is_file() else "open access"
    return f"Scoring service: {address}/datasets/<name>/invocations   {shown}"


def redis_command(layout: Layout) -> list[str]:
    """Debian's redis-server on a unix socket only, its data in the stack's state folder."""
    layout.redis_dir.mkdir(parents=True, exist_ok=True)
    return [
        "redis-server", "--port", "0", "--unixsocket", str(layout.redis_socket), "--unixsocketperm", "700",
        "--dir", str(layout.redis_dir), "--save", "60 1", "--daemonize", "no",
    ]  # fmt: skip


def _start(layout: Layout, name: str, env: dict[str, str], command: list[str]) -> int:
    with open(layout.service_logs / f"{name}.log", "ab") as output:
        return subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        ).pid  # fmt: skip


def _wait_for(path: Path, what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not start within {timeout:.0f} s; see {log}.")
        time.sleep(0.1)


def _wait_for_line(log: Path, offset: int, text: str, what: str, timeout: float = 120) -> None:
    """Wait until ``text`` appears in ``log`` after its first ``offset`` bytes."""
    deadline = time.monotonic() + timeout
    while text.encode() not in log.read_bytes()[offset:]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} was not ready within {timeout:.0f} s; see {log}.")
        time.sleep(0.5)


def stop_services(layout: Layout, stack: dict, timeout: float = 10) -> None:
    for pid in stack["pids"].values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_group_alive(pid) for pid in stack["pids"].values()):
        time.sleep(0.5)
    for pid in stack["pids"].values():
        _signal_group(pid, signal.SIGKILL)
    for pid in leftover_processes(layout):
        os.kill(pid, signal.SIGKILL)
    layout.stack_file.unlink(missing_ok=True)


def leftover_processes(layout: Layout) -> list[int]:
    """Processes that run with this stack's AIRFLOW_HOME, whatever process group they ended up in."""
    marker = f"AIRFLOW_HOME={layout.airflow_home}".encode()
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


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
