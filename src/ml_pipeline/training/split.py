"""Stratified train/test split, reproducible for a given seed.

Plain NumPy: the split task then starts without importing scikit-learn, a second it would spend
on every run's critical path.
"""

from __future__ import annotations

import numpy as np

from ml_pipeline.basics.batch import Batch


def split_batch(batch: Batch, test_fraction: float, seed: int) -> tuple[Batch, Batch]:
    """Hold out ``test_fraction`` of each class's rows, chosen at random with ``seed``."""
    train_rows, test_rows = split_rows(batch.labels, test_fraction, seed)
    return batch.take(train_rows), batch.take(test_rows)


def split_rows(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``split_batch``'s train and test splits, in order: a window need not be copied."""
    generator = np.random.default_rng(seed)
    labels = np.asarray(labels)
    held_out = [
        generator.permutation(rows)[: held_out_count(len(rows), test_fraction)]
        for rows in (np.flatnonzero(labels == label) for label in np.unique(labels))
    ]
    test_rows = np.sort(np.concatenate(held_out))
    train_rows = np.setdiff1d(np.arange(len(labels)), test_rows, assume_unique=True)
    return train_rows, test_rows


def held_out_count(class_rows: int, test_fraction: float) -> int:
    """How many of a class's rows the split holds out for the test."""
    return max(1, round(class_rows * test_fraction))
