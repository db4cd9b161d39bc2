"""Waiting for the day's batch file of the drop-folder source."""

from __future__ import annotations

import os

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout

from ml_pipeline.config import PipelineConfig
from ml_pipeline.run import RunKey


class BatchFileSensor(BaseSensorOperator):
    """Done when the run's batch file is in ``data/incoming/``; at once for the other sources.

    Write the file under another name and rename it into place, so it is never read half-written.
    """

    def _expected_file(self, context):
        config = PipelineConfig.for_run(context.get("params"))
        return config.source, config.incoming_file(RunKey.from_context(context).run_date)

    def poke(self, context) -> bool:
        source, path = self._expected_file(context)
        if source != "drop_folder":
            return True
        self.log.info("Waiting for %s", path)
        # Anything by that name ends the wait (a folder or a link too): fetch_batch then says what is wrong.
        return os.path.lexists(path)

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowSensorTimeout as timeout:
            _, path = self._expected_file(context)
            raise AirflowSensorTimeout(
                f"No batch file arrived at {path} within {self.timeout / 3600:g} h. Put the day's CSV "
                "there (the 30 feature columns and label, comma-separated) and clear this task, or "
                "trigger the run with another source."
            ) from timeout
