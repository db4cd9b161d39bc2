"""The pipeline's settings, in one place.

Each setting has a default here, which an environment variable ``ML_PIPELINE_<NAME>`` overrides
(for a whole deployment), which a DAG Param of the same name overrides (for one run, from the UI's
Trigger form or a run's conf). A run may set only what its Trigger form shows: paths, connections and
the other deployment settings come from the environment alone. Every value goes through the same
checks, wherever it comes from: its type strictly (``true`` is no number, ``nan`` and ``inf`` are no
setting's value), its range, and its name (a misspelt one is refused with the nearest known one): see
setting_values.py. Only the standard library and the declarations (basics.datasets, standard library
too) are imported: the DAG file reads this at parse time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ml_pipeline.basics.datasets import declared, load
from ml_pipeline.basics.declaration_rules import NAME
from ml_pipeline.basics.errors import ConfigError
from ml_pipeline.basics.setting_values import ENV_PREFIX, converted, nearest, out_of_range

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SOURCES = ("declared", "synthetic", "drop_folder")
TUNING_MODES = ("every_run", "reuse", "weekly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DRIFT_ACTIONS = ("keep_challenger", "fail")
# Variables of the stack (ml_pipeline_stack) and the compose files that share the prefix: no settings.
OTHER_VARIABLES = ("DB", "DOCKER_STATE", "STATE_DIR", "WORKER_NAME", "LOGS_DIR")


def setting(default: Any, description: str, form: bool = True, **schema: Any) -> Any:
    """A setting's one declaration: default, description, and its JSON-schema range (``minimum``,
    ``maximum``, ``exclusiveMinimum``, ``enum``), from which both the validation and, if ``form``,
    the Trigger form's field are made; a setting without one (``form=False``) belongs to the
    deployment, and a run cannot set it."""
    return field(default=default, metadata={"description": description, "form": form, "schema": schema})


JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


@dataclass(frozen=True)
class PipelineConfig:
    dataset: str = setting(
        "breast_cancer",
        "The dataset to train on: the name of a declaration in the datasets folder "
        "(datasets/<name>.toml), which says its columns, classes and source.",
    )
    source: str = setting(
        "declared",
        "Where the day's batch comes from: the dataset's declared source; a synthetic batch shaped "
        "like the dataset (synthetic_rows rows, for load tests); or the file <date>.csv, .csv.gz or "
        ".parquet in the dataset's drop folder (drop_folder), waited for up to wait_timeout_hours.",
        enum=list(SOURCES),
    )
    synthetic_rows: int = setting(
        100_000, "Rows in the synthetic batch (only used when source is synthetic).",
        minimum=100, maximum=5_000_000,
    )  # fmt: skip
    synthetic_shift: float = setting(
        0.0, "Shift the synthetic batch's first third of features by this many standard deviations: "
        "a batch from a drifted distribution, to try the drift check (0: no shift).",
        minimum=-10, maximum=10,
    )  # fmt: skip
    test_fraction: float = setting(
        0.2, "Share of the batch held out, stratified, to test the best model.", minimum=0.05, maximum=0.5
    )
    cv_folds: int = setting(5, "Stratified folds of the cross-validation.", minimum=2, maximum=20)
    cv_chunks: int = setting(
        1, "Split the cross-validation into this many tasks, each a run of consecutive PCA sizes, which "
        "Celery workers run side by side (see the Gantt chart); 1 keeps it one task.",
        minimum=1, maximum=64,
    )  # fmt: skip
    c_min: float = setting(
        1e-3, "Smallest inverse regularisation strength C of LogisticRegression.", exclusiveMinimum=0,
        maximum=1e12,
    )  # fmt: skip
    c_max: float = setting(
        1e3, "Largest C; the grid spaces c_count values evenly on a log scale.", exclusiveMinimum=0,
        maximum=1e12,
    )  # fmt: skip
    c_count: int = setting(7, "How many C values to search.", minimum=1, maximum=50)
    max_pca_components: int = setting(
        29, "Largest PCA size searched (capped at the number of features: then every feature is kept).",
        minimum=1, maximum=200,
    )  # fmt: skip
    random_seed: int = setting(
        42, "Seed of the train/test split, the folds and the synthetic batch.", minimum=0, maximum=2**32 - 1
    )
    tuning: str = setting(
        "every_run", "every_run: search the whole grid by CV each run. reuse: skip the grid, refit the "
        "champion's parameters on today's data (the grid runs when there is no champion yet). weekly: "
        "the grid on tuning_weekday, reuse on the other days.",
        enum=list(TUNING_MODES),
    )  # fmt: skip
    tuning_weekday: str = setting(
        "sunday", "The day of the week (of the run's date) on which weekly tuning searches the grid.",
        enum=list(WEEKDAYS),
    )  # fmt: skip
    training_window_days: int = setting(
        1, "Train on the batches of the last N days stored in PostgreSQL (1: today's only).",
        minimum=1, maximum=365,
    )  # fmt: skip
    min_delta: float = setting(
        0.0, "A new model becomes the champion only if its test accuracy beats the champion's by more "
        "than this; otherwise it is kept as a challenger.",
        minimum=0, maximum=1,
    )  # fmt: skip
    min_judged_rows: int = setting(
        30, "The fewest test rows, seen by neither the new model nor the champion in training, on which "
        "the two are compared; with fewer, the new model is kept as a challenger and the reason says so.",
        minimum=1, maximum=1_000_000,
    )  # fmt: skip
    force_promote: bool = setting(
        False, "Make this run's model the champion whatever its scores and its data's drift."
    )
    drift_threshold: float = setting(
        0.25, "Largest population stability index (PSI) of a feature, or of the class balance, between "
        "today's batch and the champion's training data, at which a new model may still be promoted "
        "(0.1: a small shift; 0.25: a large one).",
        exclusiveMinimum=0,
    )  # fmt: skip
    on_drift: str = setting(
        "keep_challenger", "Above drift_threshold: keep the new model as a challenger (the reason names "
        "the drifted features), or fail the run with that message.",
        enum=list(DRIFT_ACTIONS),
    )  # fmt: skip
    wait_timeout_hours: float = setting(
        6.0, "How long wait_for_batch_file waits for the drop-folder file.", form=False,
        exclusiveMinimum=0, maximum=24 * 7,
    )  # fmt: skip
    task_timeout_hours: float = setting(
        4.0, "How long any task may run before Airflow stops it (and retries it if it may).", form=False,
        exclusiveMinimum=0, maximum=24 * 7,
    )  # fmt: skip
    query_timeout_seconds: float = setting(
        600.0, "How long a SQL source's query may run before the server cancels it.", form=False,
        exclusiveMinimum=0, maximum=24 * 3600,
    )  # fmt: skip
    n_jobs: int = setting(0, "CV worker threads; 0 for every core.", form=False, minimum=0, maximum=1024)
    conn_id: str = setting(
        "ml_pipeline_db", "The Airflow connection to the pipeline database.", form=False, minLength=1
    )
    datasets_dir: str = setting(
        str(PROJECT_ROOT / "datasets"), "Where the dataset declarations are.", form=False, minLength=1
    )
    data_dir: str = setting(
        str(PROJECT_ROOT / "data"), "Where drop-folder files arrive and rejected ones are kept.", form=False,
        minLength=1,
    )  # fmt: skip
    data_conn_id: str = setting("", "The Airflow connection to data_dir's store if it is a URL.", form=False)
    handoff_dir: str = setting(
        "", "Where each stored batch is also written as an Arrow file, which the training tasks read instead "
        "of PostgreSQL: a folder, or an object-store URL every worker reaches (s3://bucket/prefix); empty: "
        "the handoff folder in data_dir.", form=False,
    )  # fmt: skip
    handoff_conn_id: str = setting("", "The Airflow connection to handoff_dir's store.", form=False)
    models_dir: str = setting(
        str(PROJECT_ROOT / "models"), "Where models are saved.", form=False, minLength=1
    )
    serve_host: str = setting(
        "127.0.0.1", "The address the scoring service (`python -m ml_pipeline serve`) listens on; "
        "127.0.0.1 keeps it to this machine.",
        form=False, minLength=1,
    )  # fmt: skip
    serve_port: int = setting(8000, "The scoring service's port.", form=False, minimum=1, maximum=65535)
    serve_token_file: str = setting(
        str(PROJECT_ROOT / ".airflow" / "model_server_token"), "The file holding the scoring service's "
        "bearer token: the deployment's own, or one made on first start.",
        form=False, minLength=1,
    )  # fmt: skip
    serve_open_access: bool = setting(
        False, "Let the scoring service answer requests without the bearer token.", form=False
    )
    serve_max_body_mb: float = setting(
        64.0, "The largest request body the scoring service reads, in MiB (a larger one gets 413).",
        form=False, exclusiveMinimum=0, maximum=4096,
    )  # fmt: skip
    serve_max_rows: int = setting(
        100_000, "The most rows one scoring request may hold (more get 413).", form=False,
        minimum=1, maximum=10_000_000,
    )  # fmt: skip

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, check_dataset: bool = True) -> PipelineConfig:
        """The deployment's settings; ``check_dataset=False`` for the DAG files, which build every
        declared dataset's DAGs even when the default one is not declared (ml_pipeline_declarations.py
        says so)."""
        environ = os.environ if environ is None else environ
        overrides = {
            variable.removeprefix(ENV_PREFIX).lower(): value
            for variable, value in environ.items()
            if variable.startswith(ENV_PREFIX) and variable.removeprefix(ENV_PREFIX) not in OTHER_VARIABLES
        }
        return cls().with_overrides(overrides, "environment variable " + ENV_PREFIX, check_dataset)

    @classmethod
    def for_run(cls, params: Mapping[str, Any] | None) -> PipelineConfig:
        """The deployment's configuration with one run's Trigger-form params (or conf) applied;
        ConfigError if the run sets a deployment setting."""
        if params is not None and not isinstance(params, Mapping):
            raise ConfigError(f"Invalid pipeline settings: a run's params are {params!r}, not an object.")
        config = cls.from_env(check_dataset=False)  # the run may choose a dataset of its own
        deployment = sorted(set(map(str, params or {})) & set(deployment_settings()))
        if deployment:
            raise ConfigError(
                "Invalid pipeline settings: "
                + "; ".join(
                    f"{name} is a deployment setting, which a run cannot set: set "
                    f"{ENV_PREFIX}{name.upper()} where the pipeline is deployed"
                    for name in deployment
                )
                + "."
            )
        return config.with_overrides(params or {})

    def with_overrides(
        self, values: Mapping[str, Any], origin: str = "DAG param ", check_dataset: bool = True
    ) -> PipelineConfig:
        """Return a copy with ``values`` applied, converted to each field's type, then validated."""
        known = {f.name: type(f.default) for f in fields(self)}
        typed, problems = {}, []
        for name, value in values.items():
            name = str(name)
            label = origin + (name.upper() if origin.startswith("environment") else name)
            if name not in known:
                problems.append(f"{label} is not a setting{nearest(name, known, origin)}")
                continue
            try:
                typed[name] = converted(value, known[name], label)
            except ConfigError as error:
                problems.append(str(error))
        if problems:
            raise ConfigError("Invalid pipeline settings: " + "; ".join(problems) + ".")
        updated = replace(self, **typed)
        updated.validate(check_dataset)
        return updated

    def validate(self, check_dataset: bool) -> None:
        problems = [
            problem
            for f in fields(self)
            if (problem := out_of_range(f.name, getattr(self, f.name), f.metadata["schema"]))
        ]
        if not NAME.match(self.dataset):
            problems.append(
                f"dataset is {self.dataset!r}, which is no dataset name: lower-case letters, digits and _"
            )
        elif check_dataset and not (Path(self.datasets_dir) / f"{self.dataset}.toml").is_file():
            problems.append(
                f"dataset is {self.dataset!r}, which is not declared in {self.datasets_dir}; choose one "
                f"of {', '.join(declared(self.datasets_dir)) or 'none'}, or add {self.dataset}.toml there"
            )
        if not self.c_min <= self.c_max:
            problems.append(f"c_min={self.c_min}, c_max={self.c_max}; need 0 < c_min <= c_max")
        if problems:
            raise ConfigError("Invalid pipeline settings: " + "; ".join(problems) + ".")

    def c_values(self) -> list[float]:
        """C values spaced evenly on a log scale, like ``numpy.logspace``."""
        if self.c_count == 1:
            return [self.c_min]
        low, high = math.log10(self.c_min), math.log10(self.c_max)
        step = (high - low) / (self.c_count - 1)
        return [float(10 ** (low + i * step)) for i in range(self.c_count)]

    def grid_due(self, run_date) -> bool:
        """Whether the tuning setting asks for the whole grid on ``run_date`` (else the champion's
        parameters are reused)."""
        if self.tuning == "weekly":
            return WEEKDAYS[run_date.weekday()] == self.tuning_weekday
        return self.tuning == "every_run"

    def pca_sizes(self, n_features: int) -> list[int]:
        """PCA sizes to search: 1 .. min(max_pca_components, n_features); the last, when it is every
        feature, is no reduction at all (a rotation, to which the L2 penalty is blind)."""
        return list(range(1, min(self.max_pca_components, n_features) + 1))

    def declaration(self):
        """The chosen dataset's declaration (a ``datasets.Dataset``)."""
        return load(self.datasets_dir, self.dataset)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def deployment_settings() -> list[str]:
    """The settings a run cannot set: paths, connections and the other ones its Trigger form leaves out."""
    return [f.name for f in fields(PipelineConfig) if not f.metadata["form"]]


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container limits)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
