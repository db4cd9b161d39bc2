"""Stratified train/test split, reproducible for a given seed."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from utils.handoff import Batch


def split_batch(batch: Batch, test_fraction: float, seed: int) -> tuple[Batch, Batch]:
    """Hold out ``test_fraction`` of the rows with the class balance of the whole batch."""
    rows = np.arange(len(batch))
    train_rows, test_rows = train_test_split(
        rows, test_size=test_fraction, stratify=batch.labels, random_state=seed
    )
    return batch.take(np.sort(train_rows)), batch.take(np.sort(test_rows))
