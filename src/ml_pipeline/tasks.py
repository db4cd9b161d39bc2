"""The DAG's Python tasks: each reads its settings and run from the Airflow context, calls the plain
functions of the other modules, and returns only small values (paths, ids, scores) for XCom.

The DAG file imports this module when it is parsed, every few seconds: so only the standard library,
Airflow's SDK and the settings are imported here, and every task imports what it uses (NumPy,
scikit-learn, psycopg) when it runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import task

from ml_pipeline.config import PipelineConfig
from ml_pipeline.run import RunKey, model_path, run_dir

log = logging.getLogger(__name__)


def settings_and_run(context: Mapping[str, Any]) -> tuple[PipelineConfig, RunKey]:
    return PipelineConfig.for_run(context.get("params")), RunKey.from_context(context)


@task(multiple_outputs=False)
def create_batch_table(**context) -> str:
    """The dataset's batch table, made from its declaration; stops if the table holds other columns."""
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline.batch_store import DeclarationChanged
    from ml_pipeline.batch_store import create_batch_table as create
    from ml_pipeline.db import pipeline_connection

    config, _ = settings_and_run(context)
    dataset = config.declaration()
    with pipeline_connection(config) as connection:
        try:
            create(connection, dataset)
        except DeclarationChanged as changed:
            raise AirflowFailException(str(changed)) from None  # a retry would find the same table
    return dataset.table


@task(multiple_outputs=False)
def fetch_batch(**context) -> dict:
    """The day's batch from the configured source, validated, written to the run's folder."""
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline import data_source
    from ml_pipeline.batch import write_batch
    from ml_pipeline.validation import BatchRejected, reject_file

    config, run = settings_and_run(context)
    dataset = config.declaration()
    source = dataset.source_kind(config.source)
    try:
        checked = data_source.fetch_batch(config, run.run_date)
    except BatchRejected as rejection:
        message = str(rejection)
        present = [p for p in dataset.drop_files(config.data_dir, run.run_date) if os.path.lexists(p)]
        if source == "drop_folder" and len(present) == 1:
            incoming = present[0]
            moved = reject_file(incoming, dataset.rejected_dir(config.data_dir, run.run_date), rejection)
            message += (
                f"\nThe file was moved to {moved}, its reasons to {moved}.reason.txt. Put a corrected "
                f"file at {incoming} and clear wait_for_batch_file to retry."
            )
        # Nothing was written; retrying the same input cannot help.
        raise AirflowFailException(message) from None
    for note in checked.notes:
        log.warning("Batch %s: %s", run.run_date, note)
    batch = checked.batch
    folder = write_batch(batch, run_dir(config, run) / "batch")
    return {"folder": str(folder), "rows": len(batch), "sha256": batch.sha256(), "source": source}


@task(multiple_outputs=False)
def split_batch(fetched: dict, **context) -> dict:
    """The training window (today's batch, or the last N days'), split stratified into train/test."""
    from ml_pipeline import batch_store, split
    from ml_pipeline.batch import read_batch, write_batch
    from ml_pipeline.db import pipeline_connection

    config, run = settings_and_run(context)
    folder = run_dir(config, run)
    training, training_folder = read_batch(Path(fetched["folder"])), fetched["folder"]
    if config.training_window_days > 1:
        with pipeline_connection(config) as connection:
            training = batch_store.with_earlier_days(
                connection, config.declaration(), training, run.run_date, config.training_window_days
            )
        training_folder = str(write_batch(training, folder / "training"))
    train, test = split.split_batch(training, config.test_fraction, config.random_seed)
    return {
        "training": training_folder,
        "train": str(write_batch(train, folder / "train")),
        "test": str(write_batch(test, folder / "test")),
        "train_rows": len(train),
        "test_rows": len(test),
    }


@task(multiple_outputs=False)
def save_batch(fetched: dict, **context) -> dict:
    """The batch into Postgres, replacing the date's previous one, in one transaction."""
    from ml_pipeline.batch import read_batch
    from ml_pipeline.batch_store import replace_batch
    from ml_pipeline.db import pipeline_connection

    config, run = settings_and_run(context)
    batch = read_batch(Path(fetched["folder"]))
    with pipeline_connection(config) as connection:
        rows = replace_batch(
            connection,
            config.declaration(),
            batch,
            run.run_date,
            run.run_id,
            fetched["source"],
            fetched["sha256"],
        )
    return {"batch_date": run.run_date.isoformat(), "rows": rows}


@task(multiple_outputs=False)
def tune_hyperparameters(splits: dict, **context) -> dict:
    """K-fold CV over the grid; the winner scored on the test split."""
    import numpy as np

    from ml_pipeline import tuning
    from ml_pipeline.batch import read_batch
    from ml_pipeline.files import atomic_writer, write_text_atomically

    config, run = settings_and_run(context)
    report, decision = tuning.tune(
        read_batch(Path(splits["train"])), read_batch(Path(splits["test"])), config
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


@task(multiple_outputs=False)
def save_results(fetched: dict, tuned: dict, **context) -> dict:
    """One experiments row and a cv_results row per candidate."""
    from ml_pipeline import experiments
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.tuning_report import TuningReport

    config, run = settings_and_run(context)
    report = TuningReport.load(Path(tuned["report"]))
    record = experiments.RunRecord(
        dag_run_id=run.run_id,
        dataset=config.dataset,
        run_date=run.run_date,
        source=fetched["source"],
        data_sha256=fetched["sha256"],
        settings=config.as_dict(),
    )
    with pipeline_connection(config) as connection:
        experiment_id = experiments.save_experiment(connection, record, report)
    return {"experiment_id": experiment_id, "candidates": len(report.candidates)}


@task(multiple_outputs=False)
def store_best_params(**context) -> dict:
    """The winner's parameters into best_params."""
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.experiments import save_best_params

    config, run = settings_and_run(context)
    with pipeline_connection(config) as connection:
        return {"experiment_id": save_best_params(connection, config.dataset, run.run_id)}


@task(multiple_outputs=False)
def refit_final_model(splits: dict, tuned: dict, **context) -> dict:
    """The winner refit on all the training data (train and test), saved atomically with joblib."""
    from ml_pipeline import model_files, registry
    from ml_pipeline.batch import read_batch
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.experiments import record_model_file

    config, run = settings_and_run(context)
    training = read_batch(Path(splits["training"]))
    model = model_files.refit(training, tuned["best_params"])
    dataset = config.declaration()
    path = model_path(config, run)
    sha256 = model_files.save_model(model, path)
    model_files.write_metadata(
        path,
        training,
        {
            "dag_run_id": run.run_id,
            "run_date": run.run_date.isoformat(),
            "params": tuned["best_params"],
            "cv_mean_score": tuned["cv_mean_score"],
            "test_metrics": tuned["test_metrics"],
            "settings": config.as_dict(),
            **dataset.as_dict(),
        },
    )
    relative = path.relative_to(config.models_dir)
    with pipeline_connection(config) as connection:
        record_model_file(connection, dataset.name, run.run_id, relative, sha256)
        version = registry.register_model(connection, dataset.name, run.run_id, relative, sha256)
    return {"model_path": str(path), "sha256": sha256, "version": version}


@task(multiple_outputs=False)
def promote_model(refitted: dict, splits: dict, **context) -> dict:
    """Champion if it beats the champion's accuracy on today's test split by more than min_delta;
    else challenger."""
    from ml_pipeline import model_files, registry
    from ml_pipeline.batch import read_batch
    from ml_pipeline.db import pipeline_connection

    config, _ = settings_and_run(context)
    test = read_batch(Path(splits["test"]))

    def champion_accuracy_today(champion: dict) -> float | None:
        try:
            model = model_files.load_model(Path(config.models_dir) / champion["path"], champion["sha256"])
        except (OSError, model_files.ModelIntegrityError) as error:
            log.warning("The champion is judged on its own day's test split: %s", error)
            return None
        return float((model.predict(test.features) == test.labels).mean())

    with pipeline_connection(config) as connection:
        decision = registry.promote_if_better(
            connection,
            refitted["version"],
            config.min_delta,
            config.force_promote,
            rescore=champion_accuracy_today,
        )
        live = registry.champion(connection, config.dataset)
    registry.point_champion(Path(config.models_dir), live)
    log.info("Model version %d: %s", decision.version, decision.reason)
    return {"promoted": decision.promoted, "reason": decision.reason, "champion": decision.champion_version}


@task(multiple_outputs=False)
def plot_experiment(splits: dict, tuned: dict, **context) -> dict:
    """CV heatmap, ROC curve and confusion matrix as PNG files next to the model."""
    import numpy as np

    from ml_pipeline import plots
    from ml_pipeline.batch import read_batch
    from ml_pipeline.tuning_report import TuningReport

    config, run = settings_and_run(context)
    report = TuningReport.load(Path(tuned["report"]))
    test = read_batch(Path(splits["test"]))
    written = plots.plot_experiment(
        report,
        np.asarray(test.labels),
        np.load(tuned["test_decision"]),
        model_path(config, run),
        config.declaration().classes,
    )
    return {"plots": [str(path) for path in written]}
