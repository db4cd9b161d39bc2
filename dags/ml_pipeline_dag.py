"""
### ml_pipeline: a daily retrain of a classifier on a declared dataset

One DAG per dataset declared in `datasets/`: `ml_pipeline` trains `breast_cancer`,
`ml_pipeline_<name>` each other dataset, on the schedule its declaration gives. A declaration that
cannot be used shows as an import error of `ml_pipeline_declarations.py`, naming its file.

1. **create_tables** (while waiting for the batch): the tables, from the package's `sql/` folder in
   one transaction, and the dataset's batch table, from its declaration.
2. **wait_for_batch_file** (drop-folder source only), **fetch_batch** (once the batch tables are
   made): the day's batch, validated, stored in the dataset's table (binary COPY, replacing the
   date's previous batch in one transaction). Later tasks read it from there, so they may run on any
   worker. **check_drift**, then: today's batch against the champion's training data, a population
   stability index per feature and for the class balance, into the `drift` table and a plot.
3. **choose_tuning** (`tuning`: every_run, reuse, weekly; decided while the batch is fetched)
   branches to the grid: **split_batch**, the training window (today's batch, or the last N days')
   and its stratified train/test split as CV chunks, and **cross_validate_chunk**, one mapped task
   per chunk (`cv_chunks`, 1 by default): stratified k-fold CV over StandardScaler -> PCA ->
   LogisticRegression for a run of PCA sizes x every C. Or, reusing the champion's parameters, it
   skips them. **pick_best_model** ranks the candidates (or takes the champion's parameters).
4. **after_crossvalidation**: **refit_final_model**, from one read of the training window, fits the
   pick on the train split and scores it, and the champion, on the test split, then refits it on the
   whole window, saved with joblib under `models/`; then in parallel, in the same group,
   **save_results** (`experiments`, `cv_results`, then **store_best_params**), the plots, and
   **promote_model**: registered, and
   champion if no feature drifted above `drift_threshold` and it beats the champion on the same test
   split by more than `min_delta`, else challenger; `models/<dataset>/champion` follows, and
   **announce_champion** updates the dataset's champion Asset, which schedules its scoring DAG
   (`dags/ml_scoring_dag.py`).

The tasks live in the `ml_pipeline` package (`src/ml_pipeline/tasks/`, a module per stage); this file only
wires them.
Settings come from `ml_pipeline/basics/config.py`, the environment (`ML_PIPELINE_*`) and the Trigger form.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG, Param, TaskGroup

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import load_all
from ml_pipeline.basics.db import SCHEMA, SQL_DIR
from ml_pipeline.basics.settings_reference import trigger_form
from ml_pipeline.tasks import data_in, registry, training, use
from ml_pipeline.tasks.assets import champion_asset, training_dag_id
from ml_pipeline.tasks.sensors import BatchFileSensor

CONFIG = PipelineConfig.from_env(check_dataset=False)


# A declaration that cannot be read makes no DAG: ml_pipeline_declarations.py reports it, by file name.
for declaration in load_all(CONFIG.datasets_dir)[0]:
    dataset = declaration.name
    config = replace(CONFIG, dataset=dataset)
    with DAG(
        dag_id=training_dag_id(dataset),
        description=f"Daily retrain on {dataset}: batch -> Postgres, k-fold CV over PCA x C, best model",
        schedule=declaration.schedule,
        start_date=datetime(2020, 1, 1, tzinfo=UTC),  # how far back backfills may go; catchup is off
        catchup=False,
        max_active_runs=3,
        # The default dataset's DAG runs at once; another dataset's waits to be switched on in the UI.
        is_paused_upon_creation=dataset != CONFIG.dataset,
        tags=["ml", "scikit-learn", "postgres", dataset],
        default_args={
            "retries": 2,
            "retry_delay": timedelta(seconds=20),
            "execution_timeout": timedelta(hours=CONFIG.task_timeout_hours),
            "retry_exponential_backoff": True,
            "max_retry_delay": timedelta(minutes=5),
        },
        params={name: Param(default, **schema) for name, (default, schema) in trigger_form(config).items()},
        template_searchpath=[str(SQL_DIR)],
        doc_md=__doc__,
    ):
        with TaskGroup("create_tables", tooltip="Idempotent DDL from ml_pipeline/sql/") as create_tables:
            # One task, one transaction, the files in SCHEMA's order: a task per table cost a second of
            # a worker's CPU each, for milliseconds of DDL, while the batch was being fetched.
            create_pipeline_tables = SQLExecuteQueryOperator(
                task_id="create_pipeline_tables",
                conn_id=CONFIG.conn_id,
                sql=[f"create_{name}.sql" for name in SCHEMA],
                do_xcom_push=False,  # DDL returns nothing of use downstream
            )
            batch_table = data_in.create_batch_table()

        wait_for_batch_file = BatchFileSensor(
            task_id="wait_for_batch_file",
            mode="reschedule",
            poke_interval=timedelta(minutes=1),
            timeout=timedelta(hours=CONFIG.wait_timeout_hours),
            doc_md="For a drop-folder source, waits for the day's file; passes at once otherwise.",
        )

        fetched = data_in.fetch_batch()
        drifted = use.check_drift(fetched)
        tuning = training.choose_tuning()
        chunks = training.split_batch(fetched)
        tuned = training.pick_best_model(training.cross_validate_chunk.expand(chunk=chunks))
        # The grid (split_batch, its chunks) or, reusing the champion's parameters, straight to the pick,
        # which then reads no rows and runs while the batch is fetched.
        tuning >> [chunks, tuned]

        # No edge leaves the group: the UI orders task groups to draw them, and a group that fed an
        # outside task feeding it again left the Grid, Graph and Gantt empty.
        with TaskGroup("after_crossvalidation"):
            # The pick is scored on the test split and refit on the whole window from one read of the
            # rows; then the results are saved, and the model registered once they are.
            refitted = training.refit_final_model(tuned)
            training.plot_experiment(refitted)
            saved = registry.save_results(fetched, refitted)
            promoted = registry.promote_model(refitted, drifted)
            stored = registry.store_best_params()
            saved >> [stored, promoted]
            registry.announce_champion.override(outlets=[champion_asset(dataset)])(promoted)

        fetched >> refitted
        [create_pipeline_tables, batch_table, wait_for_batch_file] >> fetched
        create_tables >> [tuning, drifted]
