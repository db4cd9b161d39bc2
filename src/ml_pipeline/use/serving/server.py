"""`python -m ml_pipeline serve`: the scoring service on uvicorn, its bearer token, and the thread that
keeps the served champions those of the registry."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.db import pipeline_connection
from ml_pipeline.basics.errors import ConfigError
from ml_pipeline.use.serving.app import Limits, create_app
from ml_pipeline.use.serving.champions import Champions


def bearer_token(config: PipelineConfig) -> str | None:
    """The token requests must carry: the one in ``serve_token_file``, made there (readable by this user
    alone) on first start; None if the deployment opened access."""
    if config.serve_open_access:
        return None
    path = Path(config.serve_token_file)
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as stream:
                stream.write(secrets.token_urlsafe(32) + "\n")
        token = path.read_text().strip()
    except OSError as error:
        raise ConfigError(
            f"The scoring service's token file {path} cannot be read or made ({error.strerror}): set "
            "ML_PIPELINE_SERVE_TOKEN_FILE to a file this user may read, or to a folder it may write in."
        ) from None
    if len(token) < 16:
        raise ConfigError(
            f"The scoring service's token in {path} is {len(token)} characters long; a token needs at least "
            "16: write a longer one there, or remove the file to have one made."
        )
    return token


def check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"The scoring service cannot listen on {host}:{port} ({error.strerror}): stop what uses it, "
                "or set ML_PIPELINE_SERVE_PORT (and ML_PIPELINE_SERVE_HOST) to another."
            ) from None


def serve(config: PipelineConfig, say=print) -> None:
    """Serve every dataset's champion until stopped (SIGINT, SIGTERM)."""
    import uvicorn

    token = bearer_token(config)
    check_port_free(config.serve_host, config.serve_port)
    champions = Champions(
        partial(pipeline_connection, config), Path(config.models_dir), Path(config.datasets_dir)
    )
    stop = threading.Event()

    @asynccontextmanager
    async def following(app):
        champions.first_load()  # before uvicorn listens: a client's first answer is a champion's
        threading.Thread(target=champions.follow, args=(stop,), name="champions", daemon=True).start()
        yield
        stop.set()

    limits = Limits(int(config.serve_max_body_mb * 2**20), config.serve_max_rows)
    app = create_app(champions, token, limits, lifespan=following, default_dataset=config.dataset)
    address = f"http://{config.serve_host}:{config.serve_port}"
    say(f"Scoring service on {address}: POST {address}/datasets/<name>/invocations, GET {address}/datasets")
    if token is None:
        say("Open access (ML_PIPELINE_SERVE_OPEN_ACCESS): requests need no token.")
    else:
        file = config.serve_token_file
        say(f'The token is in {file}: send it as -H "Authorization: Bearer $(cat {file})".')
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        app, host=config.serve_host, port=config.serve_port, loop="uvloop", http="httptools",
        access_log=False, log_level="warning", timeout_graceful_shutdown=5,
    )  # fmt: skip
