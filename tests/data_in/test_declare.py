"""`python -m ml_pipeline declare`: a dataset declared from a sample of its daily file, which the batch
reader then accepts as it is."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date

import pandas as pd
import pytest

from ml_pipeline.basics.datasets import load
from ml_pipeline.data_in.table_check import Columns
from ml_pipeline.data_in.validation import read_batch_path
from samples import DATASETS_DIR, churn_frame


@pytest.fixture
def sample(tmp_path):
    frame = churn_frame(200, 3)
    frame.insert(0, "Customer ID", [f"C-{n:04d}" for n in range(200)])
    frame["Notes"] = "called twice"
    path = tmp_path / "sample.csv"
    frame.to_csv(path, index=False)
    return path


def declare(datasets, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ml_pipeline", "declare", *args],
        capture_output=True, text=True, env={"ML_PIPELINE_DATASETS_DIR": str(datasets), "PATH": ""},
    )  # fmt: skip


def test_a_sample_file_becomes_a_declaration_the_reader_accepts(tmp_path, sample):
    datasets = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)  # the default dataset is declared, as in a fresh clone
    told = declare(datasets, "churn", "--from", str(sample), "--label", "Outcome", "--key", "Customer ID")
    assert told.returncode == 0, told.stderr
    assert "Declared churn" in told.stdout
    assert "Left out: 'Notes'" in told.stdout and "leave these columns out" in told.stdout
    churn = load(datasets, "churn")
    assert churn.features == ("customer_age", "monthly_spend", "support_calls")
    assert (churn.label, churn.classes, churn.key) == ("outcome", ("churned", "stayed"), "customer_id")
    assert churn.source.kind == "drop_folder" and churn.source.folder == "incoming/churn"
    day = churn.drop_files(tmp_path / "data", date(2026, 12, 1))[0]
    day.parent.mkdir(parents=True)
    pd.read_csv(sample).drop(columns=["Notes"]).to_csv(day, index=False)  # as the message says
    columns = Columns(churn.features, churn.label, churn.classes, churn.key)
    batch = read_batch_path(day, columns, folds=3, test_fraction=0.2).batch
    assert len(batch) == 200


def test_what_cannot_be_declared_is_named(tmp_path, sample):
    datasets = tmp_path / "datasets"
    shutil.copytree(DATASETS_DIR, datasets)  # the default dataset is declared, as in a fresh clone
    missing = declare(datasets, "churn", "--from", str(sample), "--label", "Outcom")
    assert missing.returncode == 2 and "no label column 'Outcom' (did you mean 'Outcome'?)" in missing.stderr
    assert "Traceback" not in missing.stderr and not (datasets / "churn.toml").exists()
    one_class = declare(datasets, "churn", "--from", str(sample), "--label", "Notes")
    assert one_class.returncode == 2 and "has 1 distinct values" in one_class.stderr
    assert declare(datasets, "churn", "--from", str(sample), "--label", "Outcome").returncode == 0
    again = declare(datasets, "churn", "--from", str(sample), "--label", "Outcome")
    assert again.returncode == 2 and "exists already" in again.stderr and "--force" in again.stderr
    bad_name = declare(datasets, "My Data", "--from", str(sample), "--label", "Outcome")
    assert bad_name.returncode == 2 and "is not a dataset name" in bad_name.stderr
    absent = declare(datasets, "visits", "--from", str(tmp_path / "nowhere.csv"), "--label", "Outcome")
    assert absent.returncode == 2 and "There is no file" in absent.stderr
