"""The training tasks: the split into CV chunks, each chunk's CV, the tuning branch, the pick, the refit and
its pictures."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import task

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.run import RunKey, model_path
from ml_pipeline.tasks.common import now, pipeline_task, settings_and_run

log = logging.getLogger(__name__)


@pipeline_task
def split_batch(fetched: dict, **context) -> list[dict]:
    """How the training window (today's batch, or the last N days') splits stratified into train and
    test, worked out from the stored class counts; as the CV chunks to map over, one per run of
    consecutive PCA sizes, each with the split's sizes.

    Each task that needs the rows reads the window from the database and splits it the same way
    (``training_data.split_window``): no task depends on another's disk.
    """
    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.training.fast_cv import grid_chunks
    from ml_pipeline.training.training_data import split_sizes

    config, run = settings_and_run(context)
    with pipeline_connection(config) as connection:
        sizes = split_sizes(connection, config, run)
    log.info("Training window of %s: %s", run.run_date, sizes)
    pca_sizes = config.pca_sizes(len(config.declaration().features))
    return [{"pca_sizes": part, **sizes} for part in grid_chunks(pca_sizes, config.cv_chunks)]


@pipeline_task
def cross_validate_chunk(chunk: dict, **context) -> dict:
    """One chunk of the k-fold CV: every fold x C for a run of consecutive PCA sizes, on the train split."""
    import time

    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.training.fast_cv import score_chunk
    from ml_pipeline.training.training_data import train_and_test

    config, run = settings_and_run(context)
    started_at, started = now(), time.monotonic()
    with pipeline_connection(config) as connection:
        train, _ = train_and_test(connection, config, run)
    read = time.monotonic()
    pca_sizes = chunk["pca_sizes"]
    scores = score_chunk(
        train, pca_sizes, config.c_values(), config.cv_folds, config.random_seed, config.n_jobs
    )
    log.info(
        "PCA sizes %s: %d train rows read in %.1f s, scored in %.1f s",
        pca_sizes, len(train), read - started, time.monotonic() - read,
    )  # fmt: skip
    return {"pca_sizes": pca_sizes, "scores": scores.tolist(), "started_at": started_at}


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
        import numpy as np

        from ml_pipeline.training.fast_cv import gather_scores
        from ml_pipeline.training.model import param_grid

        grid = param_grid(config, len(dataset.features))
        search = gather_scores(
            grid, [c["pca_sizes"] for c in chunks], [np.array(c["scores"]) for c in chunks]
        )
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
    test split, beside the champion on the same rows (for promote_model); and meanwhile refit on the
    whole window (train and test), saved atomically with joblib in the model store. promote_model
    registers it once save_results has written the run's scores."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.registry import judging, model_files, promotion
    from ml_pipeline.registry.experiments import record_refit
    from ml_pipeline.training import plots, tuning
    from ml_pipeline.training.training_data import dated_training_window, split_window

    config, run = settings_and_run(context)
    dataset = config.declaration()
    with pipeline_connection(config) as connection:
        champion = promotion.champion(connection, dataset.name)
        # What the champion trained on, to judge it only on rows it has not seen (judging.py).
        seen = champion and judging.seen_by_champion(connection, config, run, champion)
        training, days = dated_training_window(connection, config, run)
    train, test = split_window(training, config)
    if seen:
        unseen = judging.unseen_rows(test, judging.row_keys(train), *seen.keys(training, days))

    def scored_on_test() -> tuple:
        report, decision = tuning.test_pick(tuned, train, test)
        return report, {
            "report": report.as_dict(),
            "curves": plots.held_out_curves(np.asarray(test.labels), decision, dataset.classes),
            "champion_today": seen
            and judging.judge(Path(config.models_dir), champion, test, decision, unseen),
        }

    fingerprint = training.sha256()  # before the refit standardises the rows in place
    path = model_path(config, run)
    sha256 = model_files.unchanged_model(path, fingerprint, tuned["best_params"])
    if sha256:
        log.info("Keeping %s: this run saved it from the same rows and parameters.", path)
        report, tested = scored_on_test()
    else:
        # The two fits side by side: NumPy's and SciPy's number crunching lets go of the GIL.
        with ThreadPoolExecutor(max_workers=1) as beside:
            testing = beside.submit(scored_on_test)
            model = model_files.refit(training, tuned["best_params"], overwrite=True)
            report, tested = testing.result()
        sha256 = model_files.save_model(model, path)
        with pipeline_connection(config) as connection:
            record_refit(connection, dataset.name, run.run_id, path.relative_to(config.models_dir), sha256)
    model_files.write_metadata(
        path, training, model_metadata(config, run, tuned, report, sha256), data_sha256=fingerprint
    )
    with pipeline_connection(config) as connection:
        model_files.store_copy(connection, path, sha256, dataset.name)
    return {"model_path": str(path), "sha256": sha256, **tested}


def model_metadata(config: PipelineConfig, run: RunKey, tuned: dict, report, sha256: str) -> dict:
    """What metadata.json records of the run beside its model file."""
    return {
        "dag_run_id": run.run_id,
        "run_date": run.run_date.isoformat(),
        "params": tuned["best_params"],
        "cv_mean_score": tuned["cv_mean_score"],
        "test_metrics": report.test_metrics,
        "tuning": tuned["tuning"],
        "params_from_version": tuned.get("params_from_version"),
        "model_sha256": sha256,
        "settings": config.as_dict(),
        **config.declaration().as_dict(),
    }


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
