"""The DAG folder as a fresh dag-processor parses it: DAG ids keep their dataset, and a declaration that
cannot be used is an import error naming it, while the other datasets' DAGs load."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from samples import DATASETS_DIR, ROOT

DAGS = ROOT / "dags"


def parse_dag_folder(datasets, **env) -> tuple[dict, dict]:
    """The DAG folder as a fresh dag-processor sees it with ``datasets``: each DAG's dataset and
    paused-on-creation flag, and each file's import error."""
    code = (
        "import json, sys; from airflow.dag_processing.dagbag import DagBag; bag = DagBag(sys.argv[1]); "
        "print(json.dumps([{d.dag_id: [d.params['dataset'], d.is_paused_upon_creation] for d in "
        "bag.dags.values()}, {Path(f).name: e for f, e in bag.import_errors.items()}]))"
    ).replace("import json, sys;", "import json, sys; from pathlib import Path;")
    environment = {**os.environ, "ML_PIPELINE_DATASETS_DIR": str(datasets), **env}
    result = subprocess.run(
        [sys.executable, "-c", code, str(DAGS)], capture_output=True, text=True, check=True, env=environment
    )
    dags, errors = json.loads(result.stdout.splitlines()[-1])
    return dags, errors


@pytest.mark.slow
def test_dag_ids_keep_their_dataset_whatever_the_default(tmp_path):
    dags, errors = parse_dag_folder(DATASETS_DIR, ML_PIPELINE_DATASET="wine")
    assert errors == {}
    assert dags == {
        "ml_pipeline": ["breast_cancer", True], "ml_pipeline_wine": ["wine", False],
        "ml_scoring": ["breast_cancer", True], "ml_scoring_wine": ["wine", False],
    }  # fmt: skip


@pytest.mark.slow
def test_a_declaration_that_cannot_be_used_is_an_import_error_naming_it_and_the_others_load(tmp_path):
    datasets = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)
    (datasets / "digits.toml").write_text(
        'label = "digit"\nschedule = "every day"\n[source]\nkind = "sklearn"\n'
    )
    (datasets / "notes.toml").write_bytes(b'description = "caf\xe9"\n')
    iris = '[source]\nkind = "sklearn"\ntable = "iris"\n'
    (datasets / "my data.toml").write_text(iris)
    (datasets / "hourly.toml").write_text('schedule = "61 * * * *"\n' + iris)
    for name in ("iris_a", "iris_b"):
        (datasets / f"{name}.toml").write_text('table = "iris_rows"\n' + iris)
    dags, errors = parse_dag_folder(datasets)
    assert sorted(dags) == ["ml_pipeline", "ml_pipeline_wine", "ml_scoring", "ml_scoring_wine"]
    assert list(errors) == ["ml_pipeline_declarations.py"]
    message = errors["ml_pipeline_declarations.py"].splitlines()
    told = {line.split("DatasetError: ")[-1].split(" ", 1)[0] for line in message[-5:]}
    assert told == {str(datasets / name) for name in ("digits.toml", "hourly.toml", "my", "notes.toml")} | {
        "iris_a.toml"
    }
    assert f"DatasetError: {datasets / 'digits.toml'} cannot be used: " in message[-5]
    assert "schedule 'every day' must be a cron expression" in message[-5]
    assert "schedule '61 * * * *' must be a cron expression" in message[-4]
    assert "the file name 'my data' must be a dataset name" in message[-3]
    not_utf8 = "is not UTF-8 text (invalid continuation byte at byte 18); save it as UTF-8."
    assert message[-2] == f"{datasets / 'notes.toml'} {not_utf8}"
    assert message[-1].startswith("iris_a.toml and iris_b.toml in ")


@pytest.mark.slow
def test_a_default_dataset_that_is_not_declared_leaves_the_other_dags_standing(tmp_path):
    dags, errors = parse_dag_folder(DATASETS_DIR, ML_PIPELINE_DATASET="churn")
    assert sorted(dags) == ["ml_pipeline", "ml_pipeline_wine", "ml_scoring", "ml_scoring_wine"]
    assert "dataset is 'churn', which is not declared" in errors["ml_pipeline_declarations.py"]


@pytest.mark.slow
def test_values_of_any_type_in_a_declaration_are_named_not_crashed_on(tmp_path):
    datasets = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)
    (datasets / "odd.toml").write_text(
        'label = "y"\nfeatures = [1, 2]\n[source]\nkind = "sklearn"\ntable = ["wine"]\n'
    )
    dags, errors = parse_dag_folder(datasets)
    assert sorted(dags) == ["ml_pipeline", "ml_pipeline_wine", "ml_scoring", "ml_scoring_wine"]
    told = errors["ml_pipeline_declarations.py"]
    assert "features must be a list of column names" in told and "[source] table must be one of" in told
