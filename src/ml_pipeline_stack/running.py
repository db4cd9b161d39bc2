"""What the stack's commands share: their output, the pipeline's own commands on the stack's database,
and Airflow's services to run on (the running stack's, or a private set for the one command)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from ml_pipeline_stack import postgres, services
from ml_pipeline_stack.api import DAG_ID, Api, error_message
from ml_pipeline_stack.layout import Layout


def log(message: str) -> None:
    print(message, flush=True)


def pipeline_command(layout: Layout, *argv: str) -> int:
    """One of the pipeline's own commands (``python -m ml_pipeline``) on this stack's PostgreSQL."""
    from ml_pipeline import cli

    server = postgres.server(layout)
    postgres.ensure_databases(server)
    os.environ.update(services.stack_env(layout, server))
    return cli.main(list(argv))


@contextmanager
def airflow_services(layout: Layout, args, scheduled: bool, dag_id: str = DAG_ID):
    """Services to run on, with a logged-in API client and the DAG parsed and active, and whether they
    are this command's own.

    The services `up` started if they run, or else a private set (``args.executor``), stopped on exit.
    """
    stack = services.running_stack(layout)
    owned = stack is None
    env = services.prepare(layout, scheduled, log=log, executor=stack["executor"] if stack else args.executor)
    if owned:
        log(f"Starting Airflow ({describe(args.executor, args.workers)}) ...")
        stack = services.start_services(layout, env, args.executor, args.workers)
    else:
        log(f"Using the running stack (`make up`) on port {stack['port']}.")
    try:
        api = Api(stack["port"], logs=str(layout.service_logs), log=log, dag_id=dag_id)
        api.wait_until_ready()
        api.login(services.LOGIN_USER, services.login_password(layout))
        for error in api.wait_for_dag():
            told = error_message(error["stack_trace"])
            log(f"Note, {Path(error['filename']).name} cannot be loaded: {told}")
        was_paused = api.set_paused(False)
        try:
            yield api, env, owned
        finally:
            # A run by hand does not switch on the DAG's schedule; runs still going (a stopped backfill on
            # the `make up` stack) would stall in a paused DAG, so it then stays on.
            if was_paused and owned or was_paused and not api.unfinished_runs():
                api.set_paused(True)
            elif was_paused:
                log(f"{dag_id} stays switched on while its runs finish; pause it in the UI afterwards.")
    finally:
        if owned:
            log("Stopping Airflow ...")
            services.stop_services(layout, stack, timeout=3)


def dataset_dag(dataset: str | None, scoring: bool = False) -> tuple[str, str]:
    """The dataset (default: the configured one), its declaration checked, and its training DAG
    (ml_pipeline for breast_cancer, ml_pipeline_<name> for another), or its scoring DAG (ml_scoring,
    ml_scoring_<name>)."""
    from ml_pipeline.basics.config import PipelineConfig
    from ml_pipeline.basics.datasets import load
    from ml_pipeline.tasks.assets import scoring_dag_id, training_dag_id

    config = PipelineConfig.from_env()
    dataset = dataset or config.dataset
    load(config.datasets_dir, dataset)  # its problems, named, before any service starts
    return dataset, (scoring_dag_id if scoring else training_dag_id)(dataset)


def describe(executor: str, workers: int) -> str:
    services_text = "api-server, scheduler, dag-processor, triggerer"
    if executor == "celery":
        return f"CeleryExecutor: {services_text}, Redis and {workers} workers"
    return f"LocalExecutor: {services_text}"
