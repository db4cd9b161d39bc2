"""A stack of its own (folders under one base folder, its own port, no daily schedule), driven like
`make`: what the integration tests, the browser test and the bench run on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ml_pipeline_stack import postgres, services
from ml_pipeline_stack.api import Api
from ml_pipeline_stack.layout import Layout, free_port, isolated_environment


class StackCommandFailed(RuntimeError):
    pass


class PrivateStack:
    def __init__(self, base: Path):
        self.base = base
        self.layout = Layout.isolated(base)
        self.port = free_port()
        self.env = isolated_environment(base, self.port)

    def __call__(self, *args: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess:
        """``python -m ml_pipeline_stack ARGS`` in this stack's environment."""
        result = subprocess.run(
            [sys.executable, "-m", "ml_pipeline_stack", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise StackCommandFailed(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def api(self) -> Api:
        """A client of this stack's API server, logged in."""
        client = Api(self.port, logs=str(self.layout.service_logs))
        return client.login(services.LOGIN_USER, services.login_password(self.layout))

    def score(self, dataset: str, body: dict) -> dict:
        """A request to this stack's scoring service, with its token; its JSON answer."""
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.env['ML_PIPELINE_SERVE_PORT']}/datasets/{dataset}/invocations",
            json.dumps(body).encode(),
            {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.layout.serve_token_file.read_text().strip()}",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def connect(self, dbname: str = postgres.PIPELINE_DB):
        return postgres.connect(self.layout, dbname)

    def processes(self) -> list[int]:
        return services.leftover_processes(self.layout)
