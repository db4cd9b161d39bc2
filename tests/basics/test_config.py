import math
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_pipeline.basics.config import ConfigError, PipelineConfig
from ml_pipeline.basics.settings_reference import trigger_form
from samples import DATASETS_DIR


def test_defaults_search_the_documented_grid():
    config = PipelineConfig()
    np.testing.assert_allclose(config.c_values(), np.logspace(-3, 3, 7))
    assert config.pca_sizes(30) == list(range(1, 30))
    assert config.cv_folds == 5
    assert (config.dataset, config.source) == ("breast_cancer", "declared")


def test_pca_sizes_reach_every_feature_and_no_further():
    assert PipelineConfig(max_pca_components=29).pca_sizes(5) == [1, 2, 3, 4, 5]  # the last: no reduction
    assert PipelineConfig(max_pca_components=3).pca_sizes(30) == [1, 2, 3]


def test_environment_overrides_defaults():
    config = PipelineConfig.from_env(
        {"ML_PIPELINE_CV_FOLDS": "3", "ML_PIPELINE_TEST_FRACTION": "0.3", "ML_PIPELINE_SOURCE": "synthetic"}
    )
    assert (config.cv_folds, config.test_fraction, config.source) == (3, 0.3, "synthetic")


def test_params_override_environment():
    config = PipelineConfig.from_env({"ML_PIPELINE_CV_FOLDS": "3"}).with_overrides({"cv_folds": 7})
    assert config.cv_folds == 7


def test_a_misspelt_setting_is_refused_with_the_nearest_one_wherever_it_comes_from():
    with pytest.raises(ConfigError) as refused:
        PipelineConfig().with_overrides({"cv_fold": 3, "cv_folds": 3})
    assert str(refused.value) == (
        "Invalid pipeline settings: DAG param cv_fold is not a setting (the nearest is cv_folds)."
    )
    with pytest.raises(ConfigError) as refused:
        PipelineConfig.from_env({"ML_PIPELINE_MIN_DELTAS": "0.1", "ML_PIPELINE_DB": "kept for the stack"})
    assert str(refused.value) == (
        "Invalid pipeline settings: environment variable ML_PIPELINE_MIN_DELTAS is not a setting "
        "(the nearest is ML_PIPELINE_MIN_DELTA)."
    )


@pytest.mark.parametrize("name", ["data_dir", "models_dir", "datasets_dir", "conn_id", "n_jobs"])
def test_a_run_cannot_set_where_files_go_nor_any_other_deployment_setting(name):
    with pytest.raises(ConfigError) as refused:
        PipelineConfig.for_run({name: "/elsewhere" if name.endswith("dir") else 1, "cv_folds": 3})
    assert str(refused.value) == (
        f"Invalid pipeline settings: {name} is a deployment setting, which a run cannot set: set "
        f"ML_PIPELINE_{name.upper()} where the pipeline is deployed."
    )
    assert name not in trigger_form(PipelineConfig())


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"min_delta": math.nan}, "DAG param min_delta is nan; use a finite number"),
        ({"drift_threshold": "NaN"}, "DAG param drift_threshold is 'NaN'; use a finite number"),
        ({"c_max": math.inf}, "DAG param c_max is inf; use a finite number"),
        ({"cv_folds": True}, "DAG param cv_folds is True, which is not a valid int; fix or unset it"),
        (
            {"test_fraction": False},
            "DAG param test_fraction is False, which is not a valid float; fix or unset it",
        ),
        ({"force_promote": 1}, "DAG param force_promote is 1; use true or false"),
        ({"source": 3}, "DAG param source is 3, which is not text; fix or unset it"),
        ({"cv_folds": [5]}, "DAG param cv_folds is [5], which is not a valid int; fix or unset it"),
        ({"cv_folds": "５"}, "DAG param cv_folds is '５', which is not a valid int; fix or unset it"),
        (
            {"synthetic_rows": "1_000"},
            "DAG param synthetic_rows is '1_000', which is not a valid int; fix or unset it",
        ),
        ({"random_seed": 2**32}, "random_seed is 4294967296; use a value from 0 to 4294967295"),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_by_name(values, problem):
    with pytest.raises(ConfigError) as refused:
        PipelineConfig().with_overrides(values)
    assert str(refused.value) == f"Invalid pipeline settings: {problem}."


def test_the_environment_s_infinite_timeout_is_refused_not_a_dag_that_cannot_import():
    with pytest.raises(ConfigError) as refused:
        PipelineConfig.from_env({"ML_PIPELINE_WAIT_TIMEOUT_HOURS": "inf"})
    assert str(refused.value) == (
        "Invalid pipeline settings: environment variable ML_PIPELINE_WAIT_TIMEOUT_HOURS is 'inf'; use a "
        "finite number."
    )


SETTINGS = [f for f in fields(PipelineConfig) if f.name != "dataset"]
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(SETTINGS), ANY_VALUE)
def test_any_value_of_any_setting_is_taken_within_its_range_or_refused_by_name(setting, value):
    try:
        config = PipelineConfig().with_overrides({setting.name: value})
    except ConfigError as error:
        assert str(error).startswith("Invalid pipeline settings: ")
        # A datasets folder is judged by what it holds: the dataset chosen must be declared there.
        assert setting.name in str(error) or "which is not declared in" in str(error)
        return
    taken = getattr(config, setting.name)
    assert type(taken) is type(setting.default)
    schema = setting.metadata["schema"]
    if isinstance(taken, float):
        assert math.isfinite(taken)
    if "minimum" in schema:
        assert taken >= schema["minimum"]
    if "maximum" in schema:
        assert taken <= schema["maximum"]
    if "exclusiveMinimum" in schema:
        assert taken > schema["exclusiveMinimum"]
    if "enum" in schema:
        assert taken in schema["enum"]
    assert len(config.c_values()) == config.c_count and all(math.isfinite(c) for c in config.c_values())


def test_the_environment_must_name_a_declared_dataset_except_for_the_dag_files():
    environment = {"ML_PIPELINE_DATASETS_DIR": str(DATASETS_DIR), "ML_PIPELINE_DATASET": "churn"}
    with pytest.raises(ConfigError) as refused:
        PipelineConfig.from_env(environment)
    assert str(refused.value) == (
        f"Invalid pipeline settings: dataset is 'churn', which is not declared in {DATASETS_DIR}; choose one "
        "of breast_cancer, wine, or add churn.toml there."
    )
    assert PipelineConfig.from_env(environment, check_dataset=False).dataset == "churn"


def test_every_problem_is_told_at_once_and_a_param_by_its_name():
    with pytest.raises(ConfigError) as refused:
        PipelineConfig().with_overrides({"cv_folds": 1, "test_fraction": 0.9})
    assert str(refused.value) == (
        "Invalid pipeline settings: test_fraction is 0.9; use a value from 0.05 to 0.5; cv_folds is 1; use a "
        "value from 2 to 20."
    )
    with pytest.raises(ConfigError) as refused:
        PipelineConfig().with_overrides({"cv_folds": "x", "c_count": "many"})
    assert str(refused.value) == (
        "Invalid pipeline settings: DAG param cv_folds is 'x', which is not a valid int; fix or unset it; "
        "DAG param c_count is 'many', which is not a valid int; fix or unset it."
    )


def test_the_trigger_form_offers_the_declared_datasets():
    form = trigger_form(PipelineConfig(datasets_dir=str(DATASETS_DIR)))
    assert form["dataset"][1]["enum"] == ["breast_cancer", "wine"]


def test_a_range_includes_its_ends():
    assert PipelineConfig().with_overrides({"cv_folds": 20, "test_fraction": 0.05}).cv_folds == 20
    with pytest.raises(ConfigError, match="cv_folds is 21"):
        PipelineConfig().with_overrides({"cv_folds": 21})


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="ML_PIPELINE_CV_FOLDS is 'five'"):
        PipelineConfig.from_env({"ML_PIPELINE_CV_FOLDS": "five"})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"cv_folds": 1}, "cv_folds is 1; use a value from 2 to 20"),
        ({"random_seed": -1}, "random_seed is -1; use a value from 0 to 4294967295"),
        ({"c_min": 0.0}, "c_min is 0.0; use a value above 0"),
        ({"test_fraction": 0.9}, "test_fraction is 0.9"),
        ({"source": "s3"}, "source is 's3'; choose one of declared, synthetic, drop_folder"),
        (
            {"dataset": "churn"},
            "dataset is 'churn', which is not declared in .*; choose one of breast_cancer, wine",
        ),
        ({"c_min": 10.0, "c_max": 1.0}, "need 0 < c_min <= c_max"),
        ({"cv_folds": 2.5}, "param cv_folds is 2.5, which is not a valid int"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        PipelineConfig(datasets_dir=str(DATASETS_DIR)).with_overrides(override)


def test_every_form_field_is_a_setting_with_a_valid_default():
    config = PipelineConfig()
    form = trigger_form(config)
    for name, (default, schema) in form.items():
        assert default == getattr(config, name)
        assert schema["description"]
        if "minimum" in schema:
            assert default >= schema["minimum"]
        if "maximum" in schema:
            assert default <= schema["maximum"]
    assert form["cv_folds"][1] == {
        "type": "integer",
        "minimum": 2,
        "maximum": 20,
        "description": "Stratified folds of the cross-validation.",
    }
    assert "conn_id" not in form and "data_dir" not in form


@pytest.mark.parametrize("name", [f.name for f in fields(PipelineConfig) if f.metadata["schema"]])
def test_the_form_and_the_validation_agree_on_each_range(name):
    """A value the form's schema refuses is refused by the validation too, and the other way round."""
    schema = next(f.metadata["schema"] for f in fields(PipelineConfig) if f.name == name)
    for bound, outside in (("minimum", -1), ("maximum", 1), ("exclusiveMinimum", 0)):
        if bound in schema:
            with pytest.raises(ConfigError, match=name):
                PipelineConfig().with_overrides({name: schema[bound] + outside})
    if "enum" in schema:
        with pytest.raises(ConfigError, match=name):
            PipelineConfig().with_overrides({name: "not-a-choice"})


def test_single_c_value():
    assert PipelineConfig(c_min=0.5, c_max=0.5, c_count=1).c_values() == [0.5]
    assert math.isclose(PipelineConfig(c_min=0.01, c_max=100, c_count=5).c_values()[2], 1.0)


def test_tuning_modes_say_on_which_dates_the_grid_is_searched():
    from datetime import date, timedelta

    week = [date(2026, 6, 1) + timedelta(days=n) for n in range(7)]  # Monday .. Sunday
    assert all(PipelineConfig().grid_due(day) for day in week)  # every_run, the default
    assert not any(PipelineConfig(tuning="reuse").grid_due(day) for day in week)
    weekly = PipelineConfig().with_overrides({"tuning": "weekly", "tuning_weekday": "wednesday"})
    assert [weekly.grid_due(day) for day in week] == [False, False, True, False, False, False, False]
    with pytest.raises(ConfigError, match="tuning is 'sometimes'; choose one of every_run, reuse, weekly"):
        PipelineConfig().with_overrides({"tuning": "sometimes"})
    with pytest.raises(ConfigError, match="on_drift is 'ignore'; choose one of keep_challenger, fail"):
        PipelineConfig.from_env({"ML_PIPELINE_ON_DRIFT": "ignore"})
    with pytest.raises(ConfigError, match="drift_threshold is 0.0; use a value above 0"):
        PipelineConfig().with_overrides({"drift_threshold": 0})


def test_a_run_may_choose_a_declared_dataset_when_the_default_one_is_not(tmp_path, monkeypatch):
    (tmp_path / "ok.toml").write_text('[source]\nkind = "sklearn"\ntable = "iris"\n')
    monkeypatch.setenv("ML_PIPELINE_DATASETS_DIR", str(tmp_path))
    assert PipelineConfig.for_run({"dataset": "ok"}).dataset == "ok"


@pytest.mark.parametrize("name", ["../outside", "/tmp/outside", "Mine", "a b"])
def test_a_dataset_is_chosen_by_its_name_never_by_a_path(tmp_path, name):
    with pytest.raises(ConfigError) as refused:
        PipelineConfig(datasets_dir=str(tmp_path)).with_overrides({"dataset": name})
    assert str(refused.value) == (
        f"Invalid pipeline settings: dataset is {name!r}, which is no dataset name: lower-case letters, "
        "digits and _."
    )


def test_params_that_are_no_object_or_have_other_keys_than_names_are_refused():
    with pytest.raises(ConfigError, match=r"a run's params are \['cv_folds'\], not an object"):
        PipelineConfig.for_run(["cv_folds"])
    with pytest.raises(ConfigError, match="DAG param 5 is not a setting"):
        PipelineConfig().with_overrides({5: 1})
