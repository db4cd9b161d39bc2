"""The tasks that use the champion: today's batch checked for drift against its training data, and the
day's rows scored into predictions."""

from __future__ import annotations

import logging

from ml_pipeline.basics.run import model_path
from ml_pipeline.tasks.common import pipeline_task, settings_and_run

log = logging.getLogger(__name__)


@pipeline_task
def check_drift(fetched: dict, **context) -> dict:
    """Today's batch against the data the champion was trained on: a PSI per feature and for the class
    balance, stored in the drift table and drawn beside the run's model."""
    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.use import drift

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
def score_rows(**context) -> dict:
    """The day's rows scored by the dataset's champion into the predictions table (replacing the
    date's earlier scores)."""
    import time

    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.data_in.validation import BatchRejected
    from ml_pipeline.registry.model_files import ModelIntegrityError
    from ml_pipeline.use import scoring

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
