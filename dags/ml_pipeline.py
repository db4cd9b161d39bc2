"""
### ml_pipeline: a daily retrain of a breast-cancer classifier

1. **create_tables** (while the batch is fetched): the tables, from `dags/sql/`.
2. **wait_for_batch_file** (drop-folder source only), **fetch_batch**: the day's batch, validated;
   then, in parallel, **split_batch** (the training window, stratified train/test) and **save_batch**
   (binary COPY into `batch_rows`, replacing the date's previous batch in one transaction).
3. **tune_hyperparameters**: stratified k-fold CV over StandardScaler -> PCA -> LogisticRegression
   (PCA size x C), and the winner's scores on the test split; **save_results** writes `experiments`
   and `cv_results`.
4. **after_crossvalidation**, in parallel: **store_best_params**, and **refit_final_model** on the
   whole batch, saved with joblib under `models/` and registered, then **promote_model**: champion
   if it beats the champion by more than `min_delta`, else challenger; `models/champion` follows.

The task logic lives in `dags/utils/`; this file only wires it. Settings come from
`utils/config.py`, the environment (`ML_PIPELINE_*`) and the Trigger form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Param, TaskGroup, task

from utils.config import PipelineConfig, param_defaults
from utils.db import SCHEMA
from utils.sensors import BatchFileSensor

CONFIG = PipelineConfig.from_env()

with DAG(
    dag_id="ml_pipeline",
    description="Daily retrain: batch -> Postgres, k-fold CV over PCA x C, best model saved",
    schedule="@daily",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),  # how far back backfills may go; catchup is off
    catchup=False,
    max_active_runs=3,
    is_paused_upon_creation=False,
    tags=["ml", "scikit-learn", "postgres"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
    },
    params={name: Param(default, **schema) for name, (default, schema) in param_defaults(CONFIG).items()},
    doc_md=__doc__,
) as dag:
    with TaskGroup("create_tables", tooltip="Idempotent DDL from dags/sql/") as create_tables:
        create = {
            name: SQLExecuteQueryOperator(
                task_id=f"create_{name}",
                conn_id=CONFIG.conn_id,
                sql=f"sql/create_{name}.sql",
                do_xcom_push=False,  # DDL returns nothing of use downstream
            )
            for name in SCHEMA
        }
        for name, referenced in SCHEMA.items():
            for table in referenced:
                create[table] >> create[name]

    wait_for_batch_file = BatchFileSensor(
        task_id="wait_for_batch_file",
        mode="reschedule",
        poke_interval=timedelta(minutes=1),
        timeout=timedelta(hours=CONFIG.wait_timeout_hours),
        doc_md="For the drop_folder source, waits for data/incoming/<date>.csv; passes at once otherwise.",
    )

    @task
    def fetch_batch(**context) -> dict:
        """The day's batch from the configured source, validated, saved in the run's folder."""
        from utils import tasks

        return tasks.fetch_batch(context)

    @task
    def split_batch(fetched: dict, **context) -> dict:
        """Stratified, seeded train/test split of the batch."""
        from utils import tasks

        return tasks.split_batch(context, fetched)

    @task
    def save_batch(fetched: dict, **context) -> dict:
        """The batch into Postgres, replacing the date's previous one, in one transaction."""
        from utils import tasks

        return tasks.save_batch(context, fetched)

    @task
    def tune_hyperparameters(splits: dict, **context) -> dict:
        """K-fold CV over the grid; the winner scored on the test split."""
        from utils import tasks

        return tasks.tune_hyperparameters(context, splits)

    @task
    def save_results(fetched: dict, tuned: dict, **context) -> dict:
        """One experiments row and a cv_results row per candidate."""
        from utils import tasks

        return tasks.save_results(context, fetched, tuned)

    @task
    def store_best_params(**context) -> dict:
        """The winner's parameters into best_params."""
        from utils import tasks

        return tasks.store_best_params(context)

    @task
    def refit_final_model(splits: dict, tuned: dict, **context) -> dict:
        """The winner refit on all the training data (train and test), saved atomically with joblib."""
        from utils import tasks

        return tasks.refit_final_model(context, splits, tuned)

    fetched = fetch_batch()
    splits = split_batch(fetched)
    saved_batch = save_batch(fetched)
    tuned = tune_hyperparameters(splits)
    saved = save_results(fetched, tuned)

    @task
    def promote_model(refitted: dict, **context) -> dict:
        """Champion if it beats the champion's test accuracy by more than min_delta; else challenger."""
        from utils import tasks

        return tasks.promote_model(context, refitted)

    @task
    def plot_experiment(splits: dict, tuned: dict, **context) -> dict:
        """CV heatmap, ROC curve and confusion matrix as PNG files next to the model."""
        from utils import tasks

        return tasks.plot_experiment(context, splits, tuned)

    with TaskGroup("after_crossvalidation") as after_crossvalidation:
        refitted = refit_final_model(splits, tuned)
        saved >> [store_best_params(), refitted]
        # Plots need only the tuning step's outputs: they are drawn while the results are saved.
        plot_experiment(splits, tuned)
        promote_model(refitted)

    # Fetching needs no table, so it runs while the tables are created.
    wait_for_batch_file >> fetched
    create_tables >> saved_batch >> saved
