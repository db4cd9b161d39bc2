"""The pipeline's settings, in one place.

Each setting has a default here, which an environment variable ``ML_PIPELINE_<NAME>`` overrides
(for a whole deployment), which a DAG Param of the same name overrides (for one run, from the UI's
Trigger form). Only the standard library is imported: the DAG file reads this at parse time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

ENV_PREFIX = "ML_PIPELINE_"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("breast_cancer", "synthetic", "drop_folder")


class ConfigError(ValueError):
    """A setting has a value the pipeline cannot use."""


@dataclass(frozen=True)
class PipelineConfig:
    source: str = "breast_cancer"
    synthetic_rows: int = 100_000
    test_fraction: float = 0.2
    cv_folds: int = 5
    c_min: float = 1e-3
    c_max: float = 1e3
    c_count: int = 7
    max_pca_components: int = 29
    random_seed: int = 42
    training_window_days: int = 1
    min_delta: float = 0.0
    force_promote: bool = False
    wait_timeout_hours: float = 6.0
    n_jobs: int = 0
    conn_id: str = "ml_pipeline_db"
    data_dir: str = str(PROJECT_ROOT / "data")
    models_dir: str = str(PROJECT_ROOT / "models")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PipelineConfig:
        environ = os.environ if environ is None else environ
        overrides = {
            f.name: environ[ENV_PREFIX + f.name.upper()]
            for f in fields(cls)
            if ENV_PREFIX + f.name.upper() in environ
        }
        return cls().with_overrides(overrides, origin="environment variable " + ENV_PREFIX)

    def with_overrides(self, values: Mapping[str, Any], origin: str = "DAG param ") -> PipelineConfig:
        """Return a copy with ``values`` applied, converted to each field's type, then validated."""
        known = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        converted = {}
        for name, value in values.items():
            if name not in known:
                continue
            label = origin + (name.upper() if origin.startswith("environment") else name)
            converted[name] = _convert(value, known[name], label)
        updated = replace(self, **converted)
        updated.validate()
        return updated

    def validate(self) -> None:
        problems = []
        if self.source not in SOURCES:
            problems.append(f"source is {self.source!r}; choose one of {', '.join(SOURCES)}")
        if not 0.05 <= self.test_fraction <= 0.5:
            problems.append(f"test_fraction is {self.test_fraction}; use a value from 0.05 to 0.5")
        if not 2 <= self.cv_folds <= 20:
            problems.append(f"cv_folds is {self.cv_folds}; use 2 to 20 folds")
        if not (0 < self.c_min <= self.c_max):
            problems.append(f"c_min={self.c_min}, c_max={self.c_max}; need 0 < c_min <= c_max")
        if not 1 <= self.c_count <= 50:
            problems.append(f"c_count is {self.c_count}; use 1 to 50 values of C")
        if self.max_pca_components < 1:
            problems.append(f"max_pca_components is {self.max_pca_components}; use at least 1")
        if self.synthetic_rows < 100:
            problems.append(f"synthetic_rows is {self.synthetic_rows}; use at least 100 rows")
        if not 1 <= self.training_window_days <= 365:
            problems.append(f"training_window_days is {self.training_window_days}; use 1 to 365 days")
        if not 0 <= self.min_delta <= 1:
            problems.append(f"min_delta is {self.min_delta}; use a test-accuracy margin from 0 to 1")
        if self.wait_timeout_hours <= 0:
            problems.append(f"wait_timeout_hours is {self.wait_timeout_hours}; use a positive number")
        if self.n_jobs < 0:
            problems.append(f"n_jobs is {self.n_jobs}; use 0 for every core, or a positive count")
        if problems:
            raise ConfigError("Invalid pipeline settings: " + "; ".join(problems) + ".")

    def c_values(self) -> list[float]:
        """C values spaced evenly on a log scale, like ``numpy.logspace``."""
        if self.c_count == 1:
            return [self.c_min]
        low, high = math.log10(self.c_min), math.log10(self.c_max)
        step = (high - low) / (self.c_count - 1)
        return [float(10 ** (low + i * step)) for i in range(self.c_count)]

    def pca_sizes(self, n_features: int) -> list[int]:
        """PCA sizes to search: 1 .. min(max_pca_components, n_features - 1)."""
        return list(range(1, max(1, min(self.max_pca_components, n_features - 1)) + 1))

    def incoming_file(self, run_date: date) -> Path:
        """Where the drop-folder source expects the batch of ``run_date``."""
        return Path(self.data_dir) / "incoming" / f"{run_date.isoformat()}.csv"

    def rejected_dir(self, run_date: date) -> Path:
        """Where a rejected batch file of ``run_date`` goes, with the reasons beside it."""
        return Path(self.data_dir) / "rejected" / run_date.isoformat()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _convert(value: Any, kind: type, label: str) -> Any:
    if kind is bool and isinstance(value, str):
        if value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if value.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{label} is {value!r}; use true or false.")
    try:
        if kind is int and isinstance(value, str):
            return int(value.strip())
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{label} is {value!r}, which is not a valid {kind.__name__}; fix or unset it."
        ) from None


# What the UI's Trigger form shows: settings a user may change for one run.
PARAM_SCHEMAS: dict[str, dict[str, Any]] = {
    "source": {
        "type": "string",
        "enum": list(SOURCES),
        "description": "Where the day's batch comes from: the breast-cancer table shipped with "
        "scikit-learn, a synthetic batch of the same shape (synthetic_rows rows), or the file "
        "data/incoming/<date>.csv (drop_folder), waited for up to wait_timeout_hours.",
    },
    "synthetic_rows": {
        "type": "integer",
        "minimum": 100,
        "maximum": 5_000_000,
        "description": "Rows in the synthetic batch (only used when source is synthetic).",
    },
    "test_fraction": {
        "type": "number",
        "minimum": 0.05,
        "maximum": 0.5,
        "description": "Share of the batch held out, stratified, to test the best model.",
    },
    "cv_folds": {
        "type": "integer",
        "minimum": 2,
        "maximum": 20,
        "description": "Stratified folds of the cross-validation.",
    },
    "c_min": {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "Smallest inverse regularisation strength C of LogisticRegression.",
    },
    "c_max": {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "Largest C; the grid spaces c_count values evenly on a log scale.",
    },
    "c_count": {
        "type": "integer",
        "minimum": 1,
        "maximum": 50,
        "description": "How many C values to search.",
    },
    "max_pca_components": {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
        "description": "Largest PCA size searched (capped at the number of features - 1).",
    },
    "training_window_days": {
        "type": "integer",
        "minimum": 1,
        "maximum": 365,
        "description": "Train on the batches of the last N days stored in PostgreSQL (1: today's only).",
    },
    "min_delta": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "description": "A new model becomes the champion only if its test accuracy beats the "
        "champion's by more than this; otherwise it is kept as a challenger.",
    },
    "force_promote": {
        "type": "boolean",
        "description": "Make this run's model the champion whatever its scores.",
    },
    "random_seed": {
        "type": "integer",
        "minimum": 0,
        "description": "Seed of the train/test split, the folds and the synthetic batch.",
    },
}


def param_defaults(config: PipelineConfig) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each form field's default (the deployment's configuration) and its JSON schema."""
    return {name: (getattr(config, name), schema) for name, schema in PARAM_SCHEMAS.items()}
