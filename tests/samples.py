"""The shipped dataset declarations and batches of them, for tests."""

from pathlib import Path

from ml_pipeline.data_source import sklearn_batch, synthetic_batch
from ml_pipeline.datasets import load
from ml_pipeline.validation import columns_of

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"
BREAST_CANCER = load(DATASETS_DIR, "breast_cancer")
WINE = load(DATASETS_DIR, "wine")
FEATURE_COLUMNS = BREAST_CANCER.features
COLUMNS = columns_of(BREAST_CANCER)


def breast_cancer_batch():
    return sklearn_batch(BREAST_CANCER)


def synthetic(rows: int, seed: int, dataset=BREAST_CANCER):
    return synthetic_batch(dataset, rows, seed)
