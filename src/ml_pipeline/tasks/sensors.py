"""Waiting for the day's batch file of a drop-folder source."""

from __future__ import annotations

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.run import RunKey
from ml_pipeline.basics.storage import StoreError, present, shown


class BatchFileSensor(BaseSensorOperator):
    """Done when the run's batch file is in its dataset's drop folder (``<date>.csv``, ``.csv.gz`` or
    ``.parquet``); at once for the other sources.

    Write the file under another name and rename it into place, so it is never read half-written (an
    object store's upload appears whole). An object store that cannot be read fails the task at once,
    with what to check: the wait goes on only while the file is absent.
    """

    def _expected_files(self, context) -> tuple[str, list]:
        config = PipelineConfig.for_run(context.get("params"))
        dataset = config.declaration()
        return dataset.source_kind(config.source), dataset.drop_files(
            config.data_dir, RunKey.from_context(context).run_date, conn_id=config.data_conn_id
        )

    def poke(self, context) -> bool:
        kind, paths = self._expected_files(context)
        if kind != "drop_folder":
            return True
        self.log.info("Waiting for %s (or %s)", shown(paths[0]), ", ".join(path.name for path in paths[1:]))
        # Anything by that name ends the wait (a folder or a link too): fetch_batch then says what is wrong.
        try:
            return bool(present(paths))
        except StoreError as error:
            raise AirflowFailException(str(error)) from None  # a retry would find the same store

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowSensorTimeout as timeout:
            _, paths = self._expected_files(context)
            raise AirflowSensorTimeout(
                f"No batch file arrived at {shown(paths[0])} (or .csv.gz, .parquet) within "
                f"{self.timeout / 3600:g} h. Put the day's file there (the dataset's feature columns "
                "and label) and clear this task, or trigger the run with another source."
            ) from timeout
