"""A batch (features, labels, feature names), and the files tasks hand it to each other in: NumPy ``.npy``.

Binary arrays write and read at disk speed and can be memory-mapped, so a task reads only what it
touches; CSV would spend most of its time formatting and parsing floats.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml_pipeline.files import atomic_writer, write_text_atomically


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


def write_batch(batch: Batch, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("features", batch.features), ("labels", batch.labels)):
        with atomic_writer(folder / f"{name}.npy") as stream:
            np.save(stream, array, allow_pickle=False)  # C or Fortran order, as it is: no copy
    write_text_atomically(folder / "columns.json", json.dumps(list(batch.feature_names)))
    return folder


def read_batch(folder: Path, mmap: bool = True) -> Batch:
    mode = "r" if mmap else None
    return Batch(
        features=np.load(folder / "features.npy", mmap_mode=mode, allow_pickle=False),
        labels=np.load(folder / "labels.npy", mmap_mode=mode, allow_pickle=False),
        feature_names=tuple(json.loads((folder / "columns.json").read_text())),
    )
