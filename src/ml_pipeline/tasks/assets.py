"""The DAGs' names and the Asset between them: each dataset's training DAG sends an event on its
champion Asset when it promotes a model, which schedules the dataset's scoring DAG. Only Airflow's
SDK is imported: the DAG files read this at parse time."""

from __future__ import annotations

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable

TRAINING_DAG = "ml_pipeline"
SCORING_DAG = "ml_scoring"
# The dataset whose DAGs are plain ml_pipeline and ml_scoring. Fixed, not the configured default: a DAG id,
# once it has runs, must keep its dataset whatever ML_PIPELINE_DATASET says.
PLAIN_DAGS_DATASET = "breast_cancer"
TIME_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def training_dag_id(dataset: str) -> str:
    """ml_pipeline for breast_cancer, the bundled dataset, ml_pipeline_<name> for another."""
    return TRAINING_DAG if dataset == PLAIN_DAGS_DATASET else f"{TRAINING_DAG}_{dataset}"


def scoring_dag_id(dataset: str) -> str:
    """ml_scoring for breast_cancer, ml_scoring_<name> for another."""
    return SCORING_DAG if dataset == PLAIN_DAGS_DATASET else f"{SCORING_DAG}_{dataset}"


def champion_asset(dataset: str) -> Asset:
    """The dataset's champion model (models/<dataset>/champion), as Airflow sees it."""
    return Asset(name=f"{dataset}_champion", uri=f"x-ml-pipeline://models/{dataset}/champion", group="model")


def scoring_schedule(dataset: str, schedule: str | None):
    """When a champion is promoted, and on the dataset's own schedule (a cron expression or preset);
    only the former if the dataset has none ("none", "@once")."""
    if schedule is None or (schedule.startswith("@") and schedule not in TIME_PRESETS):
        return champion_asset(dataset)
    return AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(schedule, timezone="UTC"), assets=champion_asset(dataset)
    )
