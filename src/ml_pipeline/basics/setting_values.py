"""Each setting's value checked, wherever it comes from (the environment, the Trigger form, a run's
conf): converted to the setting's type strictly, then held to its declared range. Standard library only."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from ml_pipeline.basics.errors import ConfigError

ENV_PREFIX = "ML_PIPELINE_"


def converted(value: Any, kind: type, label: str) -> Any:
    """``value`` as a ``kind``, strictly: text as the environment writes it, or the JSON type itself;
    no flag as a number nor a number as a flag, no NaN nor infinity."""
    if kind is bool:
        word = value.strip().lower() if isinstance(value, str) else None
        if isinstance(value, bool) or word in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            return value if isinstance(value, bool) else word in ("1", "true", "yes", "on")
        raise ConfigError(f"{label} is {value!r}; use true or false")
    if kind is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{label} is {value!r}, which is not text; fix or unset it")
    invalid = ConfigError(f"{label} is {value!r}, which is not a valid {kind.__name__}; fix or unset it")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise invalid
    text = value.strip() if isinstance(value, str) else None
    if text is not None and (not text.isascii() or "_" in text):  # "５" or "1_000": Python's, no one else's
        raise invalid
    try:
        if kind is int and (isinstance(value, int) or (text is not None and text.lstrip("+-").isdigit())):
            return int(value if text is None else text)
        number = float(value if text is None else text)
    except (ValueError, OverflowError):
        raise invalid from None
    if not math.isfinite(number):
        raise ConfigError(f"{label} is {value!r}; use a finite number")
    if kind is int and not number.is_integer():
        raise invalid
    return int(number) if kind is int else number


def nearest(name: str, known, origin: str) -> str:
    """The known setting nearest ``name``, spelt as ``origin`` spells it, or all of them."""
    spell = (lambda known_name: ENV_PREFIX + known_name.upper()) if origin.startswith("environment") else str
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    if close:
        return f" (the nearest is {spell(close[0])})"
    return f"; the settings are {', '.join(map(spell, known))}"


def out_of_range(name: str, value: Any, schema: Mapping[str, Any]) -> str | None:
    if len(str(value)) < schema.get("minLength", 0):
        return f"{name} is empty; name one"
    if "enum" in schema and value not in schema["enum"]:
        return f"{name} is {value!r}; choose one of {', '.join(map(str, schema['enum']))}"
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        return f"{name} is {value}; use " + (
            f"a value from {low} to {high}" if high is not None else f"at least {low}"
        )
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return f"{name} is {value}; use a value above {schema['exclusiveMinimum']}"
    return None
