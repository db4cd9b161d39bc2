"""
### ml_pipeline: a daily retrain of a breast-cancer classifier

1. **create_tables** (while the batch is fetched): the tables, from the package's `sql/` folder.
2. **wait_for_batch_file** (drop-folder source only), **fetch_batch**: the day's batch, validated;
   then, in parallel, **split_batch** (the training window, stratified train/test) and **save_batch**
   (binary COPY into `batch_rows`, replacing the date's previous batch in one transaction).
3. **tune_hyperparameters**: stratified k-fold CV over StandardScaler -> PCA -> LogisticRegression
   (PCA size x C), and the winner's scores on the test split; **save_results** writes `experiments`
   and `cv_results`.
4. **after_crossvalidation**, in parallel: **store_best_params**, and **refit_final_model** on the
   whole batch, saved with joblib under `models/` and registered, then **promote_model**: champion
   if it beats the champion, scored on the same test split, by more than `min_delta`, else
   challenger; `models/champion` follows.

The tasks live in the `ml_pipeline` package (`src/ml_pipeline/tasks.py`); this file only wires them.
Settings come from `ml_pipeline/config.py`, the environment (`ML_PIPELINE_*`) and the Trigger form.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Param, TaskGroup

from ml_pipeline import tasks
from ml_pipeline.config import PipelineConfig, trigger_form
from ml_pipeline.db import SCHEMA, SQL_DIR
from ml_pipeline.sensors import BatchFileSensor

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
    params={name: Param(default, **schema) for name, (default, schema) in trigger_form(CONFIG).items()},
    template_searchpath=[str(SQL_DIR)],
    doc_md=__doc__,
) as dag:
    with TaskGroup("create_tables", tooltip="Idempotent DDL from ml_pipeline/sql/") as create_tables:
        create = {
            name: SQLExecuteQueryOperator(
                task_id=f"create_{name}",
                conn_id=CONFIG.conn_id,
                sql=f"create_{name}.sql",
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

    fetched = tasks.fetch_batch()
    splits = tasks.split_batch(fetched)
    saved_batch = tasks.save_batch(fetched)
    tuned = tasks.tune_hyperparameters(splits)
    saved = tasks.save_results(fetched, tuned)

    with TaskGroup("after_crossvalidation") as after_crossvalidation:
        refitted = tasks.refit_final_model(splits, tuned)
        saved >> [tasks.store_best_params(), refitted]
        # Plots need only the tuning step's outputs: they are drawn while the results are saved.
        tasks.plot_experiment(splits, tuned)
        tasks.promote_model(refitted, splits)

    # Fetching needs no table, so it runs while the tables are created.
    wait_for_batch_file >> fetched
    create_tables >> saved_batch >> saved
