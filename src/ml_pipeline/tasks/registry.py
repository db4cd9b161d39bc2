"""The registry tasks: the run's experiment rows and best parameters, the model registered and judged,
and the champion Asset's event."""

from __future__ import annotations

import logging
from pathlib import Path

from ml_pipeline.tasks.common import pipeline_task, settings_and_run

log = logging.getLogger(__name__)


@pipeline_task
def save_results(fetched: dict, refitted: dict, **context) -> dict:
    """One experiments row, with the winner's curves on the test split, and a cv_results row per
    candidate."""
    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.registry import experiments
    from ml_pipeline.training.tuning_report import TuningReport

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
    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.registry.experiments import save_best_params

    config, run = settings_and_run(context)
    with pipeline_connection(config) as connection:
        return {"experiment_id": save_best_params(connection, config.dataset, run.run_id)}


@pipeline_task
def promote_model(refitted: dict, drifted: dict, **context) -> dict:
    """The refit model registered in the models table; then champion if its data has not drifted
    from the champion's, and it beats the champion's accuracy on today's test split by more than
    min_delta; else challenger (or, with on_drift=fail, a failed run when the data drifted)."""
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.registry import promotion
    from ml_pipeline.registry.experiments import record_model_file

    config, run = settings_and_run(context)
    dataset = config.declaration()
    relative = Path(refitted["model_path"]).relative_to(config.models_dir)
    with pipeline_connection(config) as connection:
        record_model_file(connection, dataset.name, run.run_id, relative, refitted["sha256"])
        version = promotion.register_model(
            connection, dataset.name, run.run_id, relative, refitted["sha256"], dataset.classes
        )

    def judged_today(champion: dict) -> dict | None:
        judged = refitted.get("champion_today")
        # None if another run crowned a champion since refit_final_model judged the last one: the two
        # are then compared on their own days' scores, and the reason says so.
        return judged if judged and judged["version"] == champion["version"] else None

    with pipeline_connection(config) as connection:
        decision = promotion.promote_if_better(
            connection,
            dataset.name,
            version,
            config.min_delta,
            config.force_promote,
            rescore=judged_today,
            drift=drifted["summary"],
            min_judged_rows=config.min_judged_rows,
        )
        live = promotion.champion(connection, config.dataset)
    promotion.point_champion(Path(config.models_dir), live)
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
