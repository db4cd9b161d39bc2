"""The data-in tasks: the dataset's batch table made, and the day's batch fetched, checked and stored."""

from __future__ import annotations

import logging

from ml_pipeline.tasks.common import pipeline_task, settings_and_run

log = logging.getLogger(__name__)


@pipeline_task
def create_batch_table(**context) -> str:
    """The dataset's batch table, made from its declaration; stops if the table holds other columns."""
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.data_in.batch_table import DeclarationChanged
    from ml_pipeline.data_in.batch_table import create_batch_table as create

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
    the date's previous batch in one transaction), then written to the hand-off, from which the
    training tasks read it on any worker (from the table, where they cannot see the file)."""
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline.basics.db import pipeline_connection
    from ml_pipeline.basics.memory import release_freed_memory
    from ml_pipeline.data_in import handoff, sources
    from ml_pipeline.data_in.batch_store import replace_batch
    from ml_pipeline.data_in.validation import BatchRejected

    config, run = settings_and_run(context)
    dataset = config.declaration()
    source = dataset.source_kind(config.source)
    try:
        checked = sources.fetch_batch(config, run.run_date)
    except BatchRejected as rejection:
        message = str(rejection)
        # Only a file refused for what it holds is moved aside (in its object store, if data_dir is one).
        if source == "drop_folder":
            message += sources.set_aside(config, dataset, run.run_date, rejection)
        # Nothing was written; retrying the same input cannot help.
        raise AirflowFailException(message) from None
    release_freed_memory()  # the source's table, converted into the batch
    for note in checked.notes:
        log.warning("Batch %s: %s", run.run_date, note)
    batch = checked.batch
    sha256 = batch.sha256()
    with pipeline_connection(config) as connection:
        rows = replace_batch(connection, dataset, batch, run.run_date, run.run_id, source, sha256)
    handoff.publish(config, dataset, batch, run.run_date, sha256, run.run_id)
    return {"batch_date": run.run_date.isoformat(), "rows": rows, "sha256": sha256, "source": source}
