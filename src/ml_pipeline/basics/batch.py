"""A batch: features, labels and feature names, as one unit."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batch:
    """Feature matrix, 0/1 labels and the feature names, as one unit."""

    features: np.ndarray
    labels: np.ndarray
    feature_names: tuple[str, ...]

    def __post_init__(self):
        if self.features.ndim != 2 or len(self.features) != len(self.labels):
            raise ValueError(f"features {self.features.shape} and labels {self.labels.shape} do not line up")
        if self.features.shape[1] != len(self.feature_names):
            raise ValueError(f"{self.features.shape[1]} feature columns but {len(self.feature_names)} names")

    def __len__(self) -> int:
        return len(self.labels)

    def sha256(self) -> str:
        """A fingerprint of the batch's values, to tell whether two days saw the same data."""
        digest = hashlib.sha256()
        digest.update(json.dumps(self.feature_names).encode())
        for first in range(0, len(self.labels), 65536):  # row blocks: the same bytes, no whole copy
            digest.update(np.ascontiguousarray(self.features[first : first + 65536], dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.labels, dtype="<i1").tobytes())
        return digest.hexdigest()

    def take(self, rows: np.ndarray) -> Batch:
        return Batch(self.features[rows], self.labels[rows], self.feature_names)
