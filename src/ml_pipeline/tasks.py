"""The DAG's Python tasks: each reads its settings and run from the Airflow context, calls the plain
functions of the other modules, and returns only small values (paths, ids, scores) for XCom.

The DAG file imports this module when it is parsed, every few seconds: so only the standard library,
Airflow's SDK and the settings are imported here, and every task imports what it uses (NumPy,
scikit-learn, psycopg) when it runs.
"""

from __future__ import annotations

import functools
import logging
import os
import resource
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import task

from ml_pipeline.config import PipelineConfig
from ml_pipeline.run import RunKey, model_path

log = logging.getLogger(__name__)


def pipeline_task(function=None, **task_arguments):
    """A task of the DAG (its return value one XCom) whose log ends with its process's peak memory:
    what to size a worker by. ``task_arguments`` go to Airflow's ``@task`` (a trigger rule, outlets)."""
    if function is None:
        return functools.partial(pipeline_task, **task_arguments)

    @functools.wraps(function)
    def measured(*args, **kwargs):
        at_start = _resident_mib()
        try:
            return function(*args, **kwargs)
        finally:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
            log.info("Peak memory: %s MiB resident (%s MiB when the task began)", peak, at_start)

    return task(multiple_outputs=False, **task_arguments)(measured)


def _resident_mib() -> int | None:
    try:
        with open("/proc/self/statm") as statm:  # Linux; elsewhere only the peak is logged
            return int(statm.read().split()[1]) * resource.getpagesize() // 2**20
    except OSError:
        return None


def settings_and_run(context: Mapping[str, Any]) -> tuple[PipelineConfig, RunKey]:
    return PipelineConfig.for_run(context.get("params")), RunKey.from_context(context)


@pipeline_task
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


@pipeline_task
def fetch_batch(**context) -> dict:
    """The day's batch from the configured source, validated, stored in the dataset's table (replacing
    the date's previous batch in one transaction): where every later task reads it, on any worker."""
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline import data_source
    from ml_pipeline.batch_store import replace_batch
    from ml_pipeline.db import pipeline_connection
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
    sha256 = batch.sha256()
    with pipeline_connection(config) as connection:
        rows = replace_batch(connection, dataset, batch, run.run_date, run.run_id, source, sha256)
    return {"batch_date": run.run_date.isoformat(), "rows": rows, "sha256": sha256, "source": source}


@pipeline_task
def split_batch(fetched: dict, **context) -> list[dict]:
    """How the training window (today's batch, or the last N days') splits stratified into train and
    test, worked out from the stored class counts; as the CV chunks to map over, one per run of
    consecutive PCA sizes, each with the split's sizes.

    Each task that needs the rows reads the window from the database and splits it the same way
    (``training_data.split_window``): no task depends on another's disk.
    """
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.fast_cv import grid_chunks
    from ml_pipeline.training_data import split_sizes

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

    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.fast_cv import score_chunk
    from ml_pipeline.training_data import train_and_test

    config, run = settings_and_run(context)
    started_at, started = _now(), time.monotonic()
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
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.drift import champion_training

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
    from ml_pipeline.tuning_report import grid_pick, reused_pick

    config, _ = settings_and_run(context)
    dataset = config.declaration()
    chunks = list(chunks or [])
    if chunks:
        import numpy as np

        from ml_pipeline.fast_cv import gather_scores
        from ml_pipeline.model import param_grid

        grid = param_grid(config, len(dataset.features))
        search = gather_scores(
            grid, [c["pca_sizes"] for c in chunks], [np.array(c["scores"]) for c in chunks]
        )
        started_at = datetime.fromisoformat(min(chunk["started_at"] for chunk in chunks))
        return grid_pick(search, grid, config.cv_folds, started_at)

    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.drift import champion_training

    with pipeline_connection(config) as connection:
        reused = champion_training(connection, dataset.name)
    if reused is None:
        raise RuntimeError(
            f"{dataset.name} lost its champion since choose_tuning chose to reuse its parameters; "
            "clear choose_tuning to search the grid."
        )
    return reused_pick(reused["best_params"], reused["version"], config.cv_folds, datetime.now(UTC))


@pipeline_task
def save_results(fetched: dict, refitted: dict, **context) -> dict:
    """One experiments row, with the winner's curves on the test split, and a cv_results row per
    candidate."""
    from ml_pipeline import experiments
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.tuning_report import TuningReport

    config, run = settings_and_run(context)
    report = TuningReport(**refitted["report"])
    record = experiments.RunRecord(
        dag_run_id=run.run_id,
        dataset=config.dataset,
        run_date=run.run_date,
        source=fetched["source"],
        data_sha256=fetched["sha256"],
        settings=config.as_dict(),
    )
    with pipeline_connection(config) as connection:
        experiment_id = experiments.save_experiment(connection, record, report, refitted["curves"])
    return {"experiment_id": experiment_id, "candidates": len(report.candidates)}


@pipeline_task
def store_best_params(**context) -> dict:
    """The winner's parameters into best_params."""
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.experiments import save_best_params

    config, run = settings_and_run(context)
    with pipeline_connection(config) as connection:
        return {"experiment_id": save_best_params(connection, config.dataset, run.run_id)}


@pipeline_task
def refit_final_model(tuned: dict, **context) -> dict:
    """The pick, from one read of the training window: fitted on the train split and scored on the
    test split, beside the champion on the same rows (for promote_model); and meanwhile refit on the
    whole window (train and test), saved atomically with joblib in the model store. promote_model
    registers it once save_results has written the run's scores."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from ml_pipeline import judging, model_files, plots, registry, tuning
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.experiments import record_refit
    from ml_pipeline.training_data import dated_training_window, split_window

    config, run = settings_and_run(context)
    dataset = config.declaration()
    with pipeline_connection(config) as connection:
        champion = registry.champion(connection, dataset.name)
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
def check_drift(fetched: dict, **context) -> dict:
    """Today's batch against the data the champion was trained on: a PSI per feature and for the class
    balance, stored in the drift table and drawn beside the run's model."""
    from ml_pipeline import drift
    from ml_pipeline.db import pipeline_connection

    config, run = settings_and_run(context)
    with pipeline_connection(config) as connection:
        check = drift.check_drift(connection, config, run)
        if check is None:
            log.info("%s has no champion yet: nothing to compare today's batch with.", config.dataset)
            return {"checked": False, "summary": None}
        drift.save_drift(connection, config.dataset, run, check)
    model = model_path(config, run)
    plot = drift.plot_drift(check, model.with_name(f"{model.stem}.drift.png"), run.run_date)
    summary = check.summary()
    log.info("Drift: %s; plot %s", summary or f"no feature's PSI above {check.threshold:g}", plot)
    worst = max(check.figures, key=lambda figure: figure["psi"])
    return {
        "checked": True,
        "summary": summary,
        "champion_version": check.champion_version,
        "max_psi": worst["psi"],
        "drifted": [figure["name"] for figure in check.drifted],
        "plot": str(plot),
    }


@pipeline_task
def promote_model(refitted: dict, drifted: dict, **context) -> dict:
    """The refit model registered in the models table; then champion if its data has not drifted
    from the champion's, and it beats the champion's accuracy on today's test split by more than
    min_delta; else challenger (or, with on_drift=fail, a failed run when the data drifted)."""
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline import registry
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.experiments import record_model_file

    config, run = settings_and_run(context)
    dataset = config.declaration()
    relative = Path(refitted["model_path"]).relative_to(config.models_dir)
    with pipeline_connection(config) as connection:
        record_model_file(connection, dataset.name, run.run_id, relative, refitted["sha256"])
        version = registry.register_model(
            connection, dataset.name, run.run_id, relative, refitted["sha256"], dataset.classes
        )

    def judged_today(champion: dict) -> dict | None:
        judged = refitted.get("champion_today")
        # None if another run crowned a champion since refit_final_model judged the last one: the two
        # are then compared on their own days' scores, and the reason says so.
        return judged if judged and judged["version"] == champion["version"] else None

    with pipeline_connection(config) as connection:
        decision = registry.promote_if_better(
            connection,
            dataset.name,
            version,
            config.min_delta,
            config.force_promote,
            rescore=judged_today,
            drift=drifted["summary"],
            min_judged_rows=config.min_judged_rows,
        )
        live = registry.champion(connection, config.dataset)
    registry.point_champion(Path(config.models_dir), live)
    log.info("Model version %d: %s", decision.version, decision.reason)
    if drifted["summary"] and not decision.promoted and config.on_drift == "fail":
        raise AirflowFailException(
            f"Model version {decision.version} {decision.reason}. The batch is stored and the model "
            "registered as a challenger; to promote it anyway, the command above, or re-run with "
            "force_promote."
        )
    return {
        "promoted": decision.promoted,
        "reason": decision.reason,
        "champion": decision.champion_version,
        "sha256": live["sha256"],
    }


@pipeline_task
def announce_champion(promoted: dict, **context) -> dict:
    """An event on the dataset's champion Asset (this task's outlet), which schedules its scoring
    DAG; skipped when the run promoted no model, so no event is sent."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not promoted["promoted"]:
        raise AirflowSkipException(f"No new champion: {promoted['reason']}")
    config, run = settings_and_run(context)
    extra = {
        "dataset": config.dataset,
        "version": promoted["champion"],
        "sha256": promoted["sha256"],
        "dag_run_id": run.run_id,
    }
    for asset in context["task"].outlets:
        context["outlet_events"][asset].extra = extra
    return extra


@pipeline_task
def plot_experiment(refitted: dict, **context) -> dict:
    """CV heatmap (when the grid was searched), ROC curve and confusion matrix as PNG files next to the
    model."""
    from ml_pipeline import plots
    from ml_pipeline.tuning_report import TuningReport

    config, run = settings_and_run(context)
    written = plots.plot_experiment(
        TuningReport(**refitted["report"]),
        refitted["curves"],
        model_path(config, run),
        config.declaration().classes,
    )
    return {"plots": [str(path) for path in written]}


@pipeline_task
def score_rows(**context) -> dict:
    """The day's rows scored by the dataset's champion into the predictions table (replacing the
    date's earlier scores)."""
    import time

    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from ml_pipeline import scoring
    from ml_pipeline.db import pipeline_connection
    from ml_pipeline.model_files import ModelIntegrityError
    from ml_pipeline.validation import BatchRejected

    config, run = settings_and_run(context)
    for event in context.get("triggering_asset_events", {}).values():
        for each in event:
            log.info("Scheduled by %s: %s", each.asset.uri, each.extra)
    started = time.monotonic()
    with pipeline_connection(config) as connection:
        try:
            scored = scoring.score_day(connection, config, run.run_date)
        except scoring.NoChampion as missing:
            raise AirflowSkipException(str(missing)) from None
        except ModelIntegrityError as refused:  # retrying loads the same file
            raise AirflowFailException(str(refused)) from None
        except BatchRejected as rejection:
            raise AirflowFailException(f"{rejection}\nNothing was scored for {run.run_date}.") from None
    took = time.monotonic() - started
    log.info(
        "%d rows of %s scored by model version %d in %.1f s (%.0f rows/s): %s",
        scored["rows"], scored["origin"], scored["model_version"], took, scored["rows"] / took,
        scored["predicted"],
    )  # fmt: skip
    return scored


def _now() -> str:
    return datetime.now(UTC).isoformat()
