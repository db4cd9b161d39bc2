"""The training tasks: the split into CV chunks, each chunk's CV, the tuning branch, the pick, the refit and
its pictures."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from airflow.sdk import task

from ml_pipeline.basics.run import model_path
from ml_pipeline.tasks.common import now, pipeline_task, settings_and_run

log = logging.getLogger(__name__)


@pipeline_task
def split_batch(fetched: dict, **context) -> list[dict]:
    """The training window (today's batch, or the last N days') split stratified into train and test,
    and the train split into the CV's folds; each fold's standardisation and projection fitted once,
    for every chunk; the CV chunks to map over: runs of (fold, PCA sizes) units of similar cost.

    Each task that needs the rows reads the window from the hand-off files, or from the database
    where it cannot see them (``training_data``), and splits it the same way; this one and the CV
    chunks read the files a block of rows at a time, as often as they need, rather than hold them.
    """
    from ml_pipeline.training import cv_work
    from ml_pipeline.training.training_data import training_window

    config, run = settings_and_run(context)
    with training_window(config, run) as (window, _):
        chunks = cv_work.plan(window, config, run)
    log.info("Training window of %s: %d rows, %d CV chunks", run.run_date, len(window), len(chunks))
    return chunks


@pipeline_task
def cross_validate_chunk(chunk: dict, **context) -> dict:
    """One chunk of the k-fold CV: every C for its units' folds and runs of PCA sizes, on the train split."""
    import time

    from ml_pipeline.training import cv_work
    from ml_pipeline.training.training_data import training_window

    config, run = settings_and_run(context)
    started_at, started = now(), time.monotonic()
    with training_window(config, run) as (window, _):
        read = time.monotonic() - started
        tables, clock = cv_work.score_chunk(window, config, run, chunk["units"])
    log.info(
        "%d units: %d rows read in %.1f s, projections %.1f s, fits %.1f s",
        len(chunk["units"]), len(window), read, clock["projections"], clock["fits"],
    )  # fmt: skip
    return {"units": chunk["units"], "scores": tables, "started_at": started_at}


@task.branch
def choose_tuning(**context) -> list[str] | str:
    """The grid searched (split_batch into CV chunks, then pick_best_model), or the champion's
    parameters reused (straight to pick_best_model), as the tuning setting asks for the run's date.
    It needs no batch, so it decides while fetch_batch runs. Reuse needs a champion: the dataset's
    first run searches the grid whatever the setting."""
    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.use.drift import champion_training

    config, run = settings_and_run(context)
    grid = ["split_batch", "pick_best_model"]
    if config.grid_due(run.run_date):
        log.info("tuning=%s on %s: searching the grid", config.tuning, run.run_date.strftime("%A"))
        return grid
    with pipeline_connection(config) as connection:
        champion = champion_training(connection, config.dataset)
    if champion is None:
        log.info("tuning=%s, but %s has no champion yet: searching the grid", config.tuning, config.dataset)
        return grid
    log.info("tuning=%s: reusing champion version %d's parameters", config.tuning, champion["version"])
    return "pick_best_model"


@pipeline_task(trigger_rule="none_failed_min_one_success")
def pick_best_model(chunks: list[dict] | None, **context) -> dict:
    """The parameters to train: the chunks' scores gathered into the grid's ranking, or, when
    choose_tuning skipped the grid, the champion's (read while the batch is fetched). Reads no rows."""
    from ml_pipeline.training.tuning_report import grid_pick, reused_pick

    config, _ = settings_and_run(context)
    dataset = config.declaration()
    chunks = list(chunks or [])
    if chunks:
        from ml_pipeline.training.fast_cv import gather_scores
        from ml_pipeline.training.model import param_grid

        grid = param_grid(config, len(dataset.features))
        units = [unit for chunk in chunks for unit in chunk["units"]]
        search = gather_scores(grid, config.cv_folds, units, [t for chunk in chunks for t in chunk["scores"]])
        started_at = datetime.fromisoformat(min(chunk["started_at"] for chunk in chunks))
        return grid_pick(search, grid, config.cv_folds, started_at)

    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.use.drift import champion_training

    with pipeline_connection(config) as connection:
        reused = champion_training(connection, dataset.name)
    if reused is None:
        raise RuntimeError(
            f"{dataset.name} lost its champion since choose_tuning chose to reuse its parameters; "
            "clear choose_tuning to search the grid."
        )
    return reused_pick(reused["best_params"], reused["version"], config.cv_folds, datetime.now(UTC))


@pipeline_task
def refit_final_model(tuned: dict, **context) -> dict:
    """The pick, from one read of the training window: fitted on the train split and scored on the
    test split, beside the champion on the same rows (for promote_model); then refit on the whole
    window (train and test), saved atomically with joblib in the model store. promote_model
    registers it once save_results has written the run's scores."""
    from ml_pipeline.registry.candidate import judged_candidate

    config, run = settings_and_run(context)
    return judged_candidate(config, run, tuned)


@pipeline_task
def plot_experiment(refitted: dict, **context) -> dict:
    """CV heatmap (when the grid was searched), ROC curve and confusion matrix as PNG files next to the
    model."""
    from ml_pipeline.training import plots
    from ml_pipeline.training.tuning_report import TuningReport

    config, run = settings_and_run(context)
    written = plots.plot_experiment(
        TuningReport(**refitted["report"]),
        refitted["curves"],
        model_path(config, run),
        config.declaration().classes,
    )
    return {"plots": [str(path) for path in written]}
