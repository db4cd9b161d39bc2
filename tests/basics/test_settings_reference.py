"""docs/settings.md is what config.py declares: written by `make docs`, checked here."""

import re

from ml_pipeline.basics.settings_reference import PAGE, reference
from samples import ROOT

DOCS = ROOT / "docs"


def test_the_settings_page_is_what_config_py_declares():
    assert PAGE == DOCS / "settings.md"
    assert PAGE.read_text() == reference(), "docs/settings.md is out of date: run `make docs`"


def test_the_page_names_each_setting_with_its_variable_default_and_range():
    rows = {
        match[1]: match[0]
        for match in re.finditer(r"^\| `(\w+)` \(`ML_PIPELINE_\w+`\) \|.*$", reference(), re.M)
    }
    assert len(rows) == 37
    assert rows["cv_folds"] == (
        "| `cv_folds` (`ML_PIPELINE_CV_FOLDS`) | int | 5 | 2 to 20 | yes "
        "| Stratified folds of the cross-validation. |"
    )
    assert (
        "| `on_drift` (`ML_PIPELINE_ON_DRIFT`) | str | `keep_challenger` | `keep_challenger`, `fail` | yes |"
        in (rows["on_drift"])
    )
    assert (
        "| `models_dir` (`ML_PIPELINE_MODELS_DIR`) | str | `models/` (in the project) | not empty | no |"
        in (rows["models_dir"])
    )
    assert "| above 0, at most 168 | no |" in rows["wait_timeout_hours"]
    assert "| 600 | above 0, at most 86,400 | no |" in rows["query_timeout_seconds"]
