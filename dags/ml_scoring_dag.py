"""
### ml_scoring: each day's rows scored by the champion, for other systems

One DAG per dataset declared in `datasets/`: `ml_scoring` scores `breast_cancer`'s rows,
`ml_scoring_<name>` each other dataset's. It runs when the dataset's training DAG promotes a champion (its
champion Asset) and on the dataset's schedule.

**score_rows**: the day's rows, from the dataset's `[scoring]` source (a drop folder of files to score,
or a query) or else its batch source, the label optional, scored by the champion into the
`predictions` table (replacing the date's earlier scores). A champion whose file or scikit-learn
version does not match the registry is refused. `latest_predictions` in psql joins the newest scores
with the model that made them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import load_all
from ml_pipeline.tasks import use
from ml_pipeline.tasks.assets import scoring_dag_id, scoring_schedule

CONFIG = PipelineConfig.from_env(check_dataset=False)


for declaration in load_all(CONFIG.datasets_dir)[0]:  # the others: see ml_pipeline_declarations.py
    dataset = declaration.name
    with DAG(
        dag_id=scoring_dag_id(dataset),
        description=f"The day's {dataset} rows scored by the champion into the predictions table",
        schedule=scoring_schedule(dataset, declaration.schedule),
        start_date=datetime(2020, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,  # runs of one date replace each other's rows
        is_paused_upon_creation=dataset != CONFIG.dataset,
        tags=["ml", "scoring", dataset],
        default_args={
            "retries": 2,
            "retry_delay": timedelta(seconds=20),
            "execution_timeout": timedelta(hours=CONFIG.task_timeout_hours),
        },
        params={"dataset": dataset},
        doc_md=__doc__,
    ):
        use.score_rows()
