"""Which run this is, and the files in the model store that belong to it alone."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ml_pipeline.basics.config import PipelineConfig


@dataclass(frozen=True)
class RunKey:
    """A DAG run's date (what its batch is keyed by) and its run id."""

    run_date: date
    run_id: str

    @property
    def slug(self) -> str:
        """The run id made safe for a file name."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.run_id).strip("_")

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> RunKey:
        """The logical date, or for a manual run without one, the date the run was due."""
        when = context.get("logical_date") or context["dag_run"].run_after
        return cls(run_date=when.date(), run_id=context["run_id"])


def model_path(config: PipelineConfig, run: RunKey) -> Path:
    """Where the run's final model is saved: its dataset's folder, and a name with the run's date and id."""
    day = run.run_date.isoformat()
    return Path(config.models_dir) / config.dataset / day / f"model_{day}_{run.slug}.joblib"
