"""Where the day's batch comes from."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
from sklearn.datasets import load_breast_cancer, make_classification

from ml_pipeline.batch import Batch
from ml_pipeline.columns import FEATURE_COLUMNS
from ml_pipeline.config import PipelineConfig
from ml_pipeline.validation import Checked, check_batch, read_batch_csv


def column_name(feature: str) -> str:
    """A dataset feature name as a plain SQL column name: 'mean concave points' -> 'mean_concave_points'."""
    return re.sub(r"[^a-z0-9]+", "_", feature.lower()).strip("_")


def breast_cancer_batch() -> Batch:
    """The Wisconsin breast-cancer table shipped with scikit-learn: 569 rows, 30 features, label."""
    data = load_breast_cancer()
    names = tuple(column_name(name) for name in data.feature_names)
    return Batch(data.data.astype(np.float64), data.target.astype(np.int8), names)


def synthetic_batch(rows: int, seed: int) -> Batch:
    """A seeded two-class batch with the breast-cancer table's shape and column names."""
    features, labels = make_classification(
        n_samples=rows,
        n_features=len(FEATURE_COLUMNS),
        n_informative=10,
        n_redundant=10,
        class_sep=1.0,
        random_state=seed,
    )
    return Batch(features, labels.astype(np.int8), FEATURE_COLUMNS)


def fetch_batch(config: PipelineConfig, run_date: date) -> Checked:
    """The batch for ``run_date`` from the configured source, validated; BatchRejected if unusable."""
    if config.source == "drop_folder":
        return read_batch_csv(config.incoming_file(run_date), config.cv_folds, config.test_fraction)
    if config.source == "breast_cancer":
        batch = breast_cancer_batch()
    else:
        batch = synthetic_batch(config.synthetic_rows, config.random_seed)
    return check_batch(batch, config.source, config.cv_folds, config.test_fraction)
