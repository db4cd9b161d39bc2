"""Where the no-Docker stack keeps its state and logs: the one place that knows its folders.

By default everything is inside the project (git-ignored): ``.pgdata/``, ``.airflow/``, ``logs/``.
A second, independent stack (tests, the bench) takes folders of its own under one base folder.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layout:
    state: Path
    logs: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Layout:
        environ = os.environ if environ is None else environ
        return cls(
            state=Path(environ.get("ML_PIPELINE_STATE_DIR", ROOT)),
            logs=Path(environ.get("ML_PIPELINE_LOGS_DIR", ROOT / "logs")),
        )

    @classmethod
    def isolated(cls, base: Path) -> Layout:
        return cls(state=base / "state", logs=base / "logs")

    @property
    def pgdata(self) -> Path:
        return self.state / ".pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.state / ".airflow"

    @property
    def stack_file(self) -> Path:
        """The running services' process ids and port, written by `up`."""
        return self.airflow_home / "stack.json"

    @property
    def passwords_file(self) -> Path:
        """The UI login's password, read by Airflow's SimpleAuthManager."""
        return self.airflow_home / "simple_auth_manager_passwords.json.generated"

    @property
    def jwt_secret_file(self) -> Path:
        return self.airflow_home / "jwt_secret"

    @property
    def serve_token_file(self) -> Path:
        """The scoring service's bearer token, made on its first start."""
        return self.airflow_home / "model_server_token"

    @property
    def migrated_stamp(self) -> Path:
        """The Airflow version the metadata database was last migrated to."""
        return self.airflow_home / "migrated-version"

    @property
    def redis_dir(self) -> Path:
        """The Celery broker's data and its unix socket (``redis.sock``)."""
        return self.state / ".redis"

    @property
    def redis_socket(self) -> Path:
        return self.redis_dir / "redis.sock"

    @property
    def service_logs(self) -> Path:
        return self.logs / "services"

    def task_logs(self, dag_id: str, run_id: str) -> Path:
        return self.logs / f"dag_id={dag_id}" / f"run_id={run_id}"


def isolated_environment(base: Path, port: int) -> dict[str, str]:
    """The environment of a stack of its own in ``base`` (state, logs, data, models) on ``port``,
    running only the runs it is asked for (no daily schedule). The tests and `make bench` use it."""
    layout = Layout.isolated(base)
    layout.state.mkdir(parents=True, exist_ok=True)
    return dict(
        os.environ,
        ML_PIPELINE_STATE_DIR=str(layout.state),
        ML_PIPELINE_LOGS_DIR=str(layout.logs),
        ML_PIPELINE_DATA_DIR=str(base / "data"),
        ML_PIPELINE_MODELS_DIR=str(base / "models"),
        AIRFLOW_PORT=str(port),
        ML_PIPELINE_SERVE_PORT=str(free_port()),
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
