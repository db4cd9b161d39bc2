"""What each task of the DAG does, given its Airflow context.

Each function reads its settings and run identity from the context, calls the plain functions of
the other modules, and returns only small values (paths, ids, scores) for XCom. Modules that import
scikit-learn are imported by the tasks that use them: the others start a second sooner.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from utils import batch_store, handoff, registry, results, split
from utils.config import PipelineConfig
from utils.db import pipeline_connection
from utils.files import atomic_writer, write_text_atomically
from utils.report import TuningReport
from utils.runs import RunKey, model_path, run_dir
from utils.validation import BatchRejected, reject_file

Context = Mapping[str, Any]
log = logging.getLogger(__name__)


def settings(context: Context) -> PipelineConfig:
    """The deployment's configuration with this run's Trigger-form params applied."""
    return PipelineConfig.from_env().with_overrides(context.get("params") or {})


def fetch_batch(context: Context) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from utils import data_source

    config, run = settings(context), RunKey.from_context(context)
    try:
        checked = data_source.fetch_batch(config, run.run_date)
    except BatchRejected as rejection:
        message, incoming = str(rejection), config.incoming_file(run.run_date)
        if config.source == "drop_folder" and incoming.exists():
            moved = reject_file(incoming, config.rejected_dir(run.run_date), rejection)
            message += (
                f"\nThe file was moved to {moved}, its reasons to {moved}.reason.txt. Put a corrected "
                f"file at {incoming} and clear wait_for_batch_file to retry."
            )
        # Nothing was written; retrying the same input cannot help.
        raise AirflowFailException(message) from None
    for note in checked.notes:
        log.warning("Batch %s: %s", run.run_date, note)
    batch = checked.batch
    folder = handoff.save_batch(batch, run_dir(config, run) / "batch")
    return {"folder": str(folder), "rows": len(batch), "sha256": batch.sha256()}


def split_batch(context: Context, fetched: dict) -> dict:
    config, run = settings(context), RunKey.from_context(context)
    folder = run_dir(config, run)
    training = training_data(config, run, handoff.load_batch(Path(fetched["folder"])))
    train, test = split.split_batch(training, config.test_fraction, config.random_seed)
    window = config.training_window_days > 1
    return {
        "training": str(handoff.save_batch(training, folder / "training") if window else fetched["folder"]),
        "train": str(handoff.save_batch(train, folder / "train")),
        "test": str(handoff.save_batch(test, folder / "test")),
        "train_rows": len(train),
        "test_rows": len(test),
    }


def training_data(config: PipelineConfig, run: RunKey, today: handoff.Batch) -> handoff.Batch:
    """Today's batch, after the stored batches of the window's earlier days."""
    if config.training_window_days == 1:
        return today
    first_date = run.run_date - timedelta(days=config.training_window_days - 1)
    with pipeline_connection(config) as connection:
        earlier = batch_store.load_batches(connection, first_date, run.run_date)
    log.info("Training on %d stored rows from %s on, plus today's %d", len(earlier), first_date, len(today))
    return handoff.Batch(
        np.concatenate([earlier.features, today.features]),
        np.concatenate([earlier.labels, today.labels]),
        today.feature_names,
    )


def save_batch(context: Context, fetched: dict) -> dict:
    config, run = settings(context), RunKey.from_context(context)
    batch = handoff.load_batch(Path(fetched["folder"]))
    with pipeline_connection(config) as connection:
        rows = batch_store.replace_batch(
            connection, batch, run.run_date, run.run_id, config.source, fetched["sha256"]
        )
    return {"batch_date": run.run_date.isoformat(), "rows": rows}


def tune_hyperparameters(context: Context, splits: dict) -> dict:
    from utils import tuning

    config, run = settings(context), RunKey.from_context(context)
    report, decision = tuning.tune(
        handoff.load_batch(Path(splits["train"])), handoff.load_batch(Path(splits["test"])), config
    )
    folder = run_dir(config, run)
    path = write_text_atomically(folder / "tuning_report.json", json.dumps(report.as_dict()))
    with atomic_writer(folder / "test_decision.npy") as stream:
        np.save(stream, decision)
    return {
        "report": str(path),
        "test_decision": str(folder / "test_decision.npy"),
        "best_params": report.best_params,
        "cv_mean_score": report.cv_mean_score,
        "test_metrics": report.test_metrics,
    }


def save_results(context: Context, fetched: dict, tuned: dict) -> dict:
    config, run = settings(context), RunKey.from_context(context)
    report = TuningReport.load(Path(tuned["report"]))
    record = results.RunRecord(
        dag_run_id=run.run_id,
        run_date=run.run_date,
        source=config.source,
        data_sha256=fetched["sha256"],
        settings=config.as_dict(),
    )
    with pipeline_connection(config) as connection:
        experiment_id = results.save_experiment(connection, record, report)
    return {"experiment_id": experiment_id, "candidates": len(report.candidates)}


def store_best_params(context: Context) -> dict:
    config, run = settings(context), RunKey.from_context(context)
    with pipeline_connection(config) as connection:
        experiment_id = results.store_best_params(connection, run.run_id)
    return {"experiment_id": experiment_id}


def refit_final_model(context: Context, splits: dict, tuned: dict) -> dict:
    from utils import model_store

    config, run = settings(context), RunKey.from_context(context)
    training = handoff.load_batch(Path(splits["training"]))
    model = model_store.refit(training, tuned["best_params"])
    path = model_path(config, run)
    sha256 = model_store.save_model(model, path)
    model_store.write_metadata(
        path,
        training,
        {
            "dag_run_id": run.run_id,
            "run_date": run.run_date.isoformat(),
            "params": tuned["best_params"],
            "cv_mean_score": tuned["cv_mean_score"],
            "test_metrics": tuned["test_metrics"],
            "settings": config.as_dict(),
        },
    )
    relative = path.relative_to(config.models_dir)
    with pipeline_connection(config) as connection:
        model_store.record_model(connection, run.run_id, relative, sha256)
        version = registry.register_model(connection, run.run_id, relative, sha256)
    return {"model_path": str(path), "sha256": sha256, "version": version}


def promote_model(context: Context, refitted: dict) -> dict:
    config = settings(context)
    with pipeline_connection(config) as connection:
        decision = registry.promote_if_better(
            connection, refitted["version"], config.min_delta, config.force_promote
        )
        live = registry.champion(connection)
    registry.point_champion(Path(config.models_dir), live["path"])
    log.info("Model version %d: %s", decision.version, decision.reason)
    return {"promoted": decision.promoted, "reason": decision.reason, "champion": decision.champion_version}


def plot_experiment(context: Context, splits: dict, tuned: dict) -> dict:
    from utils import plots

    config, run = settings(context), RunKey.from_context(context)
    report = TuningReport.load(Path(tuned["report"]))
    test = handoff.load_batch(Path(splits["test"]))
    written = plots.plot_experiment(
        report, np.asarray(test.labels), np.load(tuned["test_decision"]), model_path(config, run)
    )
    return {"plots": [str(path) for path in written]}
