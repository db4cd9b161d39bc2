"""A private copy of the no-Docker stack for tests: its own folders and port, driven like `make`."""

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import psycopg
import pytest

from local_stack import free_port, isolated_environment, leftover_processes

ROOT = Path(__file__).resolve().parents[1]


class Stack:
    def __init__(self, base: Path):
        self.base = base
        self.port = free_port()
        self.env = isolated_environment(base, self.port)

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
        return leftover_processes(self.base / "state" / ".airflow")

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
