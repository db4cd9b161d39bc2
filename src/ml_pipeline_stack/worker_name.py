"""The host name Airflow records for a task instance (``[core] hostname_callable``).

The no-Docker stack runs its Celery workers side by side on one machine: each gets a name of its own
(ML_PIPELINE_WORKER_NAME), so the UI and the REST API tell which worker ran a task. Every other
process keeps Airflow's default, the machine's name.
"""

from __future__ import annotations

import os
import socket

WORKER_NAME = "ML_PIPELINE_WORKER_NAME"


def hostname() -> str:
    return os.environ.get(WORKER_NAME) or socket.getfqdn()
