"""A run's settings, as every task reads them: a conf that cannot work fails the task at once, named."""

import pytest
from airflow.exceptions import AirflowFailException

from ml_pipeline.tasks.common import settings_and_run


@pytest.mark.parametrize(
    ("params", "told"),
    [
        ({"models_dir": "/elsewhere"}, "models_dir is a deployment setting, which a run cannot set: set "
                                       "ML_PIPELINE_MODELS_DIR where the pipeline is deployed"),
        ({"cv_fold": 3}, "DAG param cv_fold is not a setting (the nearest is cv_folds)"),
        ({"min_delta": float("nan")}, "DAG param min_delta is nan; use a finite number"),
    ],
)  # fmt: skip
def test_a_conf_that_cannot_work_fails_the_task_without_a_retry(params, told):
    with pytest.raises(AirflowFailException) as failed:  # Airflow's way to say: do not retry
        settings_and_run({"params": params, "run_id": "manual__1", "logical_date": None})
    assert str(failed.value) == f"Invalid pipeline settings: {told}."
