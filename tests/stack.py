"""A private copy of the no-Docker stack for tests: its own folders and port, driven like `make`."""

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.env = dict(
            os.environ,
            ML_PIPELINE_STATE_DIR=str(base / "state"),
            ML_PIPELINE_LOGS_DIR=str(base / "logs"),
            ML_PIPELINE_DATA_DIR=str(base / "data"),
            ML_PIPELINE_MODELS_DIR=str(base / "models"),
            AIRFLOW_PORT=str(self.port),
            # Only the runs the test starts: no scheduled run of today alongside them.
            AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        )
        (base / "state").mkdir(parents=True)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "local_stack.py"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if check and result.returncode != 0:
            pytest.fail(f"local_stack {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def processes(self) -> list[int]:
        marker = f"AIRFLOW_HOME={self.base / 'state' / '.airflow'}".encode()
        found = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        home = self.base / "state" / ".airflow"
        password = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        token = self._request("POST", "/auth/token", {"username": "admin", "password": password})
        return self._request(method, path, body, token["access_token"])

    def _request(self, method, path, body=None, token=None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.base / "state" / ".pgdata"), user="postgres", dbname="ml_pipeline"
        )
