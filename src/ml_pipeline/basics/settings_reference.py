"""docs/settings.md, written from the settings' one declaration in config.py: `make docs` runs
``python -m ml_pipeline.basics.settings_reference``, and a test checks that the page is what this
writes, so it cannot drift from the code."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from ml_pipeline.basics.config import ENV_PREFIX, JSON_TYPES, PROJECT_ROOT, PipelineConfig
from ml_pipeline.basics.datasets import declared

PAGE = PROJECT_ROOT / "docs" / "settings.md"

INTRO = """# Settings

<!-- Written by `make docs` from src/ml_pipeline/basics/config.py; edit the settings there, not here. -->

Every setting is declared once, in `src/ml_pipeline/basics/config.py`, with its type, default, range and
meaning; the checks and the Trigger form's fields are made from that declaration. An environment variable
`ML_PIPELINE_<NAME>` sets it for a deployment (`.env` under compose, or the shell for `make`), and the
Trigger form, or a run's conf, sets it for one run; the environment and a run's values go through the
same checks. A bad value stops the run, or the command, with one message naming the setting and what
it may be.

The settings the Trigger form does not show are the deployment's: folders, the connection, the
timeouts and the CV's threads. A run cannot set them: a run's conf that names one is refused, and so
is a name that is no setting (with the nearest one), a flag given as a number, NaN or infinity.

| setting | type | default | allowed | Trigger form | meaning |
|---|---|---|---|---|---|
"""

OUTRO = """
Point the pipeline at another PostgreSQL by setting `AIRFLOW_CONN_ML_PIPELINE_DB` (for example
`postgresql://user:password@host:5432/ml_pipeline`); no code changes.
"""


def trigger_form(config: PipelineConfig) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Each Trigger-form field: its default (the deployment's configuration) and its JSON schema."""
    form = {
        f.name: (
            getattr(config, f.name),
            {
                "type": JSON_TYPES[type(f.default)],
                **f.metadata["schema"],
                "description": f.metadata["description"],
            },
        )
        for f in fields(config)
        if f.metadata["form"]
    }
    form["dataset"][1]["enum"] = declared(config.datasets_dir)
    return form


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str) and value.startswith(str(PROJECT_ROOT)):
        return f"`{Path(value).relative_to(PROJECT_ROOT)}/` (in the project)"
    if isinstance(value, str):
        return f"`{value}`"
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _allowed(name: str, kind: type, schema: dict[str, Any]) -> str:
    if name == "dataset":
        return "a dataset declared in the datasets folder"
    if "enum" in schema:
        return ", ".join(f"`{choice}`" for choice in schema["enum"])
    if "exclusiveMinimum" in schema:
        high = f", at most {_shown(schema['maximum'])}" if "maximum" in schema else ""
        return f"above {_shown(schema['exclusiveMinimum'])}{high}"
    if schema.get("minLength"):
        return "not empty"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"{_shown(low)} to {_shown(high)}"
    if low is not None:
        return f"at least {_shown(low)}"
    return "true or false" if kind is bool else "any"


def reference() -> str:
    """The page: one row per setting, in the order config.py declares them."""
    rows = []
    for setting in fields(PipelineConfig):
        kind, schema = type(setting.default), setting.metadata["schema"]
        name = f"`{setting.name}` (`{ENV_PREFIX}{setting.name.upper()}`)"
        cells = [
            name,
            kind.__name__,
            _shown(setting.default),
            _allowed(setting.name, kind, schema),
            "yes" if setting.metadata["form"] else "no",
            setting.metadata["description"].replace("|", "\\|"),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return INTRO + "\n".join(rows) + "\n" + OUTRO


if __name__ == "__main__":
    PAGE.write_text(reference())
    sys.stdout.write(f"Wrote {PAGE.relative_to(PROJECT_ROOT)}: {len(fields(PipelineConfig))} settings.\n")
