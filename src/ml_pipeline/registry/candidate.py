"""The day's candidate model, from one read of the training window: the pick fitted on the train split
and scored on the test split, beside the champion on the same rows (for ``promote_model``); then refit on
the whole window (train and test) and saved atomically with joblib in the model store. ``promote_model``
registers it once ``save_results`` has written the run's scores."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.db import pipeline_connection
from ml_pipeline.basics.run import RunKey, model_path
from ml_pipeline.registry import judging, model_files, promotion
from ml_pipeline.registry.experiments import record_refit
from ml_pipeline.training import plots, tuning
from ml_pipeline.training.training_data import split_window, training_window
from ml_pipeline.training.tuning_report import TuningReport

log = logging.getLogger(__name__)


def judged_candidate(config: PipelineConfig, run: RunKey, tuned: dict) -> dict:
    """The pick ``tuned`` tested and refit: the model file, its test report and curves, and the champion's
    score on the test rows neither model has seen (None without a champion)."""
    dataset = config.declaration()
    with pipeline_connection(config) as connection:
        champion = promotion.champion(connection, dataset.name)
        # What the champion trained on, to judge it only on rows it has not seen (judging.py).
        seen = champion and judging.seen_by_champion(connection, config, run, champion)
    # The window's rows are read from its files as each step needs them: held once, a test split's worth.
    with training_window(config, run) as (training, days):
        train_rows, test_rows = split_window(training, config)
        test = training.take(test_rows)
        if seen:
            keys = judging.row_keys(training)
            unseen = judging.unseen_rows(test, keys[train_rows], *seen.keys(keys, days))
        # The test fit, then the refit: each holds one projection of the rows, never both at once.
        report, decision = tuning.test_pick(tuned, training, test, train_rows)
        champion_today = seen and judging.judge(Path(config.models_dir), champion, test, decision, unseen)
        path, sha256 = saved_model(config, run, tuned, training, report)
    return {
        "model_path": str(path),
        "sha256": sha256,
        "report": report.as_dict(),
        "curves": plots.held_out_curves(np.asarray(test.labels), decision, dataset.classes),
        "champion_today": champion_today,
    }


def saved_model(
    config: PipelineConfig, run: RunKey, tuned: dict, training: Batch, report: TuningReport
) -> tuple[Path, str]:
    """The run's model file refit on ``training`` and its metadata, unless this run saved it already from
    the same rows and parameters; a copy in the database for workers that cannot see the model store."""
    fingerprint = training.sha256()
    path = model_path(config, run)
    sha256 = model_files.unchanged_model(path, fingerprint, tuned["best_params"])
    if sha256:
        log.info("Keeping %s: this run saved it from the same rows and parameters.", path)
    else:
        sha256 = model_files.save_model(model_files.refit(training, tuned["best_params"]), path)
        with pipeline_connection(config) as connection:
            record_refit(connection, config.dataset, run.run_id, path.relative_to(config.models_dir), sha256)
    facts = model_metadata(config, run, tuned, report, sha256)
    model_files.write_metadata(path, training, facts, data_sha256=fingerprint)
    with pipeline_connection(config) as connection:
        model_files.store_copy(connection, path, sha256, config.dataset)
    return path, sha256


def model_metadata(
    config: PipelineConfig, run: RunKey, tuned: dict, report: TuningReport, sha256: str
) -> dict:
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
