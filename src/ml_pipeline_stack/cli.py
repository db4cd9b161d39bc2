"""The stack's commands, behind `make`:

python -m ml_pipeline_stack run [--date YYYY-MM-DD] [--conf JSON]   one complete ml_pipeline run
python -m ml_pipeline_stack run --scoring [--date YYYY-MM-DD]        the day's rows scored (ml_scoring)
python -m ml_pipeline_stack backfill --from D1 --to D2               one run per day, through the scheduler
python -m ml_pipeline_stack up [--executor celery --workers N] | down | status   the Airflow UI on :8080
                                                                    and the scoring service on :8000
python -m ml_pipeline_stack psql [ARGS...]                          psql on the pipeline database
python -m ml_pipeline_stack env                                     the environment, as shell exports
python -m ml_pipeline_stack promote | predict ...                   the pipeline's commands, on this stack
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ml_pipeline.basics.errors import ConfigError
from ml_pipeline.cli import OneLineParser, day
from ml_pipeline_stack import postgres, services
from ml_pipeline_stack.api import Api
from ml_pipeline_stack.backfill import command_backfill
from ml_pipeline_stack.failures import failed_task_errors
from ml_pipeline_stack.layout import Layout
from ml_pipeline_stack.running import airflow_services, dataset_dag, describe, log, pipeline_command


def command_run(layout: Layout, args) -> int:
    today = datetime.now(UTC).date()
    run_date = args.date or today
    if run_date > today:
        log(f"DS={run_date} is in the future: Airflow starts no run before its date. Use {today} or earlier.")
        return 2
    started = time.monotonic()
    dataset, dag_id = dataset_dag(args.dataset, scoring=args.scoring)
    conf = run_conf(args.conf, dataset)
    with airflow_services(layout, args, scheduled=False, dag_id=dag_id) as (api, _, _):
        run_id, earlier = api.start_run(run_date, conf)
        state = api.watch_run(run_id, args.timeout, earlier)
        failed = [] if state == "success" else api.task_instances(run_id)
    log(f"\n{dag_id} {run_id}: {state} in {time.monotonic() - started:.1f} s (wall time, with startup)")
    if state != "success":
        for task_id, message in failed_task_errors(layout.task_logs(dag_id, run_id), failed):
            log(f"  {task_id} failed: {message}")
        log(f"Task logs: {layout.task_logs(dag_id, run_id)}")
        return 1
    report = ("scores", "--date", run_date.isoformat()) if args.scoring else ("summary", "--run-id", run_id)
    if pipeline_command(layout, *report, "--dataset", dataset) != 0:
        log(f"See {layout.service_logs}.")
        return 1
    log("PostgreSQL keeps running for `make psql`; `make down` stops it.")
    return 0


def run_conf(text: str, dataset: str) -> dict:
    """``--conf`` as a run's params, checked as the run will check them; ConfigError otherwise."""
    from ml_pipeline.basics.config import PipelineConfig

    try:
        conf = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--conf is not JSON ({error}); write it as '{{\"cv_folds\": 3}}'") from None
    if not isinstance(conf, dict):
        raise ConfigError(f"--conf is {text}; write the run's params as an object: '{{\"cv_folds\": 3}}'")
    PipelineConfig.for_run({"dataset": dataset, **conf})
    return conf


def command_up(layout: Layout, args) -> int:
    # The daily schedule runs unless the caller turned it off (the integration tests do).
    scheduled = os.environ.get("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE", "True") == "True"
    stack = services.running_stack(layout)
    if stack and (stack["executor"], len(stack["workers"])) != (
        args.executor,
        args.workers * (args.executor == "celery"),
    ):
        log(
            f"Already running: {describe(stack['executor'], len(stack['workers']))}. "
            "`make down` first to switch."
        )
    if not stack:
        env = services.prepare(layout, scheduled, log=log, executor=args.executor)
        log(f"Starting Airflow ({describe(args.executor, args.workers)}) ...")
        stack = services.start_services(layout, env, args.executor, args.workers, serving=True)
    Api(stack["port"], logs=str(layout.service_logs)).wait_until_ready()
    password = services.login_password(layout)
    log(f"Airflow UI: http://localhost:{stack['port']}   login: {services.LOGIN_USER} / {password}")
    if services.MODEL_SERVER in stack["pids"]:
        log(services.scoring_service(layout))
    log(f"Service logs: {layout.service_logs}.  Stop everything with `make down`.")
    return 0


def command_down(layout: Layout, args) -> int:
    stack = services.running_stack(layout)
    if stack:
        services.stop_services(layout, stack)
        log("Airflow stopped.")
    strays = services.leftover_processes(layout)
    for pid in strays:
        os.kill(pid, signal.SIGKILL)
    if strays:
        log(f"Killed {len(strays)} stray Airflow processes.")
    if postgres.is_running(layout):
        postgres.server(layout).stop()
        log("PostgreSQL stopped.")
    return 0


def command_status(layout: Layout, args) -> int:
    stack = services.running_stack(layout)
    if stack:
        log(f"Airflow: running on port {stack['port']}, {describe(stack['executor'], len(stack['workers']))}")
    else:
        log("Airflow: stopped")
    return 0


def command_psql(layout: Layout, args) -> int:
    server = postgres.server(layout)
    postgres.ensure_databases(server)
    psql = Path(server.bin_path) / "psql"
    socket = postgres.socket_dir(server)
    return subprocess.call(
        [str(psql), "-h", socket, "-U", postgres.SUPERUSER, postgres.PIPELINE_DB, *args.args]
    )


def command_env(layout: Layout, args) -> int:
    env = services.stack_env(layout, postgres.server(layout))
    for name in sorted(env):
        if name.startswith(("AIRFLOW", "ML_PIPELINE")):
            log(f"export {name}={shlex.quote(env[name])}")
    return 0


def command_pipeline(layout: Layout, args) -> int:
    return pipeline_command(layout, *args.args)


def command_line() -> argparse.ArgumentParser:
    """The commands, their options and their handlers."""
    parser = OneLineParser(
        prog="python -m ml_pipeline_stack", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="one complete ml_pipeline run")
    run.add_argument(
        "--date", type=day, default=os.environ.get("DS") or None, help="YYYY-MM-DD (default today)"
    )
    run.add_argument("--conf", default="{}", help="JSON params for the run, e.g. '{\"cv_folds\": 3}'")
    run.add_argument("--dataset", default=os.environ.get("DATASET") or None, help="a declared dataset")
    run.add_argument("--timeout", type=float, default=3600)
    run.add_argument(
        "--scoring", action="store_true", help="run the dataset's scoring DAG (ml_scoring) instead"
    )
    run.set_defaults(handler=command_run)
    backfill = commands.add_parser("backfill", help="airflow backfill create over FROM..TO, then watch")
    backfill.add_argument("--from", dest="from_date", type=day, required=True, help="YYYY-MM-DD")
    backfill.add_argument("--to", dest="to_date", type=day, required=True, help="YYYY-MM-DD")
    backfill.add_argument(
        "--reprocess",
        default="failed",
        choices=("none", "failed", "completed"),
        help="dates that already have a run: keep them, re-run failed ones, or re-run all",
    )
    backfill.add_argument("--dataset", default=os.environ.get("DATASET") or None, help="a declared dataset")
    backfill.add_argument("--max-active-runs", type=int, default=2)
    backfill.add_argument(
        "--timeout", type=float, default=None, help="seconds to watch (default: wait_timeout_hours + 1 h)"
    )
    backfill.set_defaults(handler=command_backfill)
    up = commands.add_parser("up", help="the Airflow UI, and the daily schedule")
    up.set_defaults(handler=command_up)
    for parser_with_services in (run, backfill, up):
        parser_with_services.add_argument(
            "--executor",
            choices=sorted(services.EXECUTORS),
            default=os.environ.get("EXECUTOR") or "local",
            help="LocalExecutor, or CeleryExecutor with Redis and --workers workers (if none runs yet)",
        )
        parser_with_services.add_argument(
            "--workers", type=int, default=int(os.environ.get("WORKERS") or 2), help="Celery workers"
        )
    for name, handler in (("down", command_down), ("status", command_status), ("env", command_env)):
        commands.add_parser(name).set_defaults(handler=handler)
    commands.add_parser("psql", help="extra arguments go to psql").set_defaults(handler=command_psql)
    commands.add_parser(
        "pipeline", help="python -m ml_pipeline ARGS (predict, promote, summary) on this stack's database"
    ).set_defaults(handler=command_pipeline)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = command_line()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("psql", "pipeline"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.args = extra
    try:
        return args.handler(Layout.from_env(), args)
    except ConfigError as error:  # a bad setting or declaration: its message says what to change
        log(str(error))
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what was started has been stopped on the way out
        log("\nStopped.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
