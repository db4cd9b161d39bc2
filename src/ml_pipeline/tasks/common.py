"""What every task shares: the decorator that logs a task's peak memory, and the run's settings and key
read from the Airflow context."""

from __future__ import annotations

import functools
import logging
import resource
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import task

from ml_pipeline.basics.config import ConfigError, PipelineConfig
from ml_pipeline.basics.run import RunKey

log = logging.getLogger(__name__)


def pipeline_task(function=None, **task_arguments):
    """A task of the DAG (its return value one XCom) whose log ends with its process's peak memory:
    what to size a worker by. ``task_arguments`` go to Airflow's ``@task`` (a trigger rule, outlets)."""
    if function is None:
        return functools.partial(pipeline_task, **task_arguments)

    @functools.wraps(function)
    def measured(*args, **kwargs):
        at_start = _resident_mib()
        try:
            return function(*args, **kwargs)
        finally:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
            log.info("Peak memory: %s MiB resident (%s MiB when the task began)", peak, at_start)

    return task(multiple_outputs=False, **task_arguments)(measured)


def _resident_mib() -> int | None:
    try:
        with open("/proc/self/statm") as statm:  # Linux; elsewhere only the peak is logged
            return int(statm.read().split()[1]) * resource.getpagesize() // 2**20
    except OSError:
        return None


def settings_and_run(context: Mapping[str, Any]) -> tuple[PipelineConfig, RunKey]:
    """The run's settings and key; a setting the run may not have fails the task at once, unretried:
    the same conf cannot succeed on a retry."""
    from airflow.exceptions import AirflowFailException

    try:
        config = PipelineConfig.for_run(context.get("params"))
    except ConfigError as error:
        raise AirflowFailException(str(error)) from None
    return config, RunKey.from_context(context)


def now() -> str:
    return datetime.now(UTC).isoformat()
