"""`make backfill`: `airflow backfill create` over a range of dates on the dataset's DAG, each run's
outcome as it ends, and on Ctrl-C the backfill ended, saying how each run ended."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from ml_pipeline_stack import services
from ml_pipeline_stack.api import Api
from ml_pipeline_stack.failures import failed_task_errors, missing_files
from ml_pipeline_stack.layout import Layout
from ml_pipeline_stack.running import airflow_services, dataset_dag, log, pipeline_command


def command_backfill(layout: Layout, args) -> int:
    """`airflow backfill create` over a range of dates, then each run's outcome as it ends."""
    first, last = args.from_date, args.to_date
    if first > last or last > datetime.now(UTC).date():
        log(f"FROM={first} TO={last}: need FROM <= TO <= today.")
        return 2
    dataset, dag_id = dataset_dag(args.dataset)
    with airflow_services(layout, args, scheduled=False, dag_id=dag_id) as (api, env, owned):
        for running in api.close_finished_backfills():
            first_open, last_open = running["dates"]
            unfinished = ", ".join(f"{run} ({state})" for run, state in running["unfinished"].items())
            log(
                f"{dag_id} has a backfill still running, {first_open} .. {last_open}, and Airflow allows one "
                f"at a time. Not finished: {unfinished}."
            )
            if waiting := missing_files(dataset, first_open, last_open):
                log(waiting)
            log(
                "Let them finish (with `make up`, in the UI's Grid), or mark them failed there (the run's "
                "page, the mark-as-failed button), then run this again."
            )
            return 1
        timeout = args.timeout or watch_timeout((last - first).days + 1, args.max_active_runs)
        try:  # from the moment the backfill may exist, Ctrl-C ends it
            services.airflow(
                env, "backfill", "create", "--dag-id", dag_id,
                "--from-date", first.isoformat(), "--to-date", last.isoformat(),
                "--reprocess-behavior", args.reprocess, "--max-active-runs", str(args.max_active_runs),
            )  # fmt: skip
            log(f"Backfill of {dag_id} ({dataset}), {first} .. {last}, created; waiting for its runs.")
            if waiting := missing_files(dataset, first, last):
                log(waiting)
            states = api.watch_runs(first, last, timeout)
        except KeyboardInterrupt:
            return stopped_backfill(api, dag_id, first, last, owned)
        except TimeoutError as expired:
            log(f"{expired} Still going: {', '.join(api.unfinished_runs()) or 'none'}.")
            if not owned:  # the `make up` stack goes on with them
                log("They go on in the running stack (`make up`): watch them in the UI's Grid.")
                return 1
            return stopped_backfill(api, dag_id, first, last, owned)
        errors = {
            run_id: failed_task_errors(layout.task_logs(dag_id, run_id), api.task_instances(run_id))
            for run_id, state in states.items()
            if state != "success"
        }
    for run_id, state in states.items():
        log(f"{run_id}: {state}")
        for task_id, message in errors.get(run_id, []):
            log(f"  {task_id} failed: {message}")
        if state == "success":
            pipeline_command(layout, "summary", "--run-id", run_id, "--dataset", dataset)
    return 0 if all(state == "success" for state in states.values()) else 1


def watch_timeout(days: int, at_once: int) -> float:
    """How long a backfill is watched: for each round of runs (``at_once`` of its ``days`` at a time), an
    hour more than a run may wait for its file."""
    from ml_pipeline.basics.config import PipelineConfig

    waits = PipelineConfig.from_env().wait_timeout_hours
    return (waits + 1) * 3600 * math.ceil(days / max(1, at_once))


def stopped_backfill(api: Api, dag_id: str, first: date, last: date, owned: bool) -> int:
    """Ctrl-C during a backfill: it is ended, so that the next one may start; what ran is said."""
    log(f"Stopping the backfill of {dag_id}, {first} .. {last} ...")
    states = api.stop_backfill(first, last, fail_running=owned)
    for run_id, state in sorted(states.items()):
        log(f"  {state:<9} {run_id}")
    if owned:
        log("Runs not finished are marked failed; `make backfill` with REPROCESS=failed runs them again.")
    else:
        log(
            "Runs already started go on in the running stack (`make up`): watch them in the UI's Grid, or "
            "`make down` to stop everything. No new run of this backfill starts."
        )
    return 130
