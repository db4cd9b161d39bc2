"""The cross-validation as the DAG divides it: planned once per run, scored in chunks, gathered.

``plan`` (split_batch) draws the folds and fits every fold's standardisation and projection once, keeps
them in the run's hand-off folder, and divides the (fold, chain) units into chunks of similar cost;
``score_chunk`` (each cross_validate_chunk) reads them, applies its folds' projections and fits its
units. A chunk on a machine that cannot see the run's folder draws and fits them again, the same way:
the same numbers.
"""

from __future__ import annotations

import logging
import time

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.handoff import handoff_root, run_folder, write_bytes
from ml_pipeline.training.fast_cv import grid_chunks, score_units
from ml_pipeline.training.folds import (
    Projections,
    fit_projections,
    fold_rows,
    projections_bytes,
    projections_from_bytes,
)
from ml_pipeline.training.training_data import split_window

log = logging.getLogger(__name__)


def projections_path(config: PipelineConfig, run: RunKey, components: int):
    """Where the run keeps its folds' projections, named by what they depend on besides the rows."""
    name = f"projections-{config.cv_folds}-{config.random_seed}-{config.test_fraction}-{components}.npz"
    return run_folder(handoff_root(config), config.declaration(), run.run_date, run.run_id) / name


def plan(window: Batch, config: PipelineConfig, run: RunKey) -> list[dict]:
    """The CV chunks to map over (each a list of units, with the split's sizes), once the folds'
    projections are fitted and kept for them."""
    sizes = config.pca_sizes(len(window.feature_names))
    train_rows, test_rows = split_window(window, config)
    rows = fold_rows(window.labels, train_rows, config.cv_folds, config.random_seed)
    projections = fit_projections(window.features, rows, max(sizes))
    path = projections_path(config, run, max(sizes))
    try:
        write_bytes(path, projections_bytes(projections))
    except Exception as error:  # any store's failure: each chunk can fit them
        log.warning("Could not keep the folds' projections at %s (%s): each chunk fits them", path, error)
    counts = {"training_rows": len(window), "train_rows": len(train_rows), "test_rows": len(test_rows)}
    return [{"units": part, **counts} for part in grid_chunks(sizes, config.cv_folds, config.cv_chunks)]


def score_chunk(window: Batch, config: PipelineConfig, run: RunKey, units: list) -> tuple[list, dict]:
    """Every unit's [C][size] held-out accuracies, and the seconds spent on the projections (read or
    fitted, and applied) and on the fits. ``window``'s features may be its ``WindowFiles``."""
    started = time.monotonic()
    train_rows, _ = split_window(window, config)
    components = max(config.pca_sizes(len(window.feature_names)))
    projections = _shared_projections(config, run, window, train_rows, components)
    clock = {"projections": time.monotonic() - started}
    rows = projections.fold_rows(train_rows)
    tables = score_units(
        window.features, window.labels, rows, projections, units, config.c_values(), config.n_jobs, clock
    )
    return tables, clock


def _shared_projections(config, run, window: Batch, train_rows, components: int) -> Projections:
    path = projections_path(config, run, components)
    try:
        projections = projections_from_bytes(path.read_bytes())
        if len(projections.held_out_by) == len(train_rows):
            return projections
        log.info("The folds' projections at %s are of another split: fitting them", path)
    except Exception as error:  # missing, damaged, or a store that fails: fit them
        log.info("The folds' projections are not at %s (%s): fitting them", path, error)
    rows = fold_rows(window.labels, train_rows, config.cv_folds, config.random_seed)
    return fit_projections(window.features, rows, components)
