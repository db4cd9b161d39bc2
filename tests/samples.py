"""The tests' own dataset declarations (tests/datasets/: the shipped ones as they were written) and
batches of them. The project's datasets/ folder is the user's: what is declared there never changes what
a test finds."""

from pathlib import Path

import numpy as np

from ml_pipeline.basics.datasets import load
from ml_pipeline.data_in.sources import sklearn_batch, synthetic_batch
from ml_pipeline.data_in.validation import columns_of

ROOT = Path(__file__).resolve().parents[1]  # the project
DATASETS_DIR = ROOT / "tests" / "datasets"
BREAST_CANCER = load(DATASETS_DIR, "breast_cancer")
WINE = load(DATASETS_DIR, "wine")
FEATURE_COLUMNS = BREAST_CANCER.features
COLUMNS = columns_of(BREAST_CANCER)


def breast_cancer_batch():
    return sklearn_batch(BREAST_CANCER)


# A user's own dataset: a drop folder of CSV files with string labels (churn_frame's rows).
CHURN = """
features = ["customer_age", "monthly_spend", "support_calls"]
label = "outcome"
classes = ["stayed", "churned"]
[source]
kind = "drop_folder"
"""


def synthetic(rows: int, seed: int, dataset=BREAST_CANCER):
    return synthetic_batch(dataset, rows, seed)


def churn_frame(rows: int = 120, seed: int = 0):
    """A user's churn table, its headers written the way a spreadsheet export writes them, in
    another order than declared, with string labels."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    calls = rng.integers(0, 8, rows)
    return pd.DataFrame(
        {
            "Outcome": np.where(calls + rng.normal(0, 1, rows) > 4, "churned", "stayed"),
            "Customer Age": rng.integers(18, 90, rows),
            "Monthly-Spend": rng.normal(50, 10, rows).round(2),
            "SUPPORT CALLS": calls,
        }
    )


def whole_window(config, run):
    """The run's training window as one matrix, and its days: what its tasks read a block at a time."""
    from ml_pipeline.basics.batch import Batch
    from ml_pipeline.training.training_data import training_window

    with training_window(config, run) as (window, days):
        return Batch(window.features[:], window.labels, window.feature_names), days
