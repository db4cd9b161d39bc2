"""The cross-validation's folds and what every candidate of a fold shares: its standardisation and PCA axes.

The folds are ``StratifiedKFold(shuffle=True)``'s, as ``GridSearchCV(cv=StratifiedKFold(...))`` uses,
drawn on the rows of the train split; rows are always indices into the training window, so no task
copies the window to split it.

Every fold's projection comes from one pass over the rows: the sums and cross-products of each
fold's held-out rows (the folds' held-out rows partition the split), from which the sums of any
fold's training rows are the whole minus its own. Rows are shifted by the split's mean first, so
the cross-products subtract no large numbers. ``split_batch`` computes them once per run; every CV
chunk reads them, with the folds themselves (``projections_bytes``), and applies them to its folds' rows.

The rows may be a matrix or the window's hand-off files (``WindowFiles``): ``row_blocks`` reads either a
block at a time, the same blocks, so the numbers do not depend on which.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

BLOCK_ROWS = 4096


@dataclass(frozen=True)
class Projections:
    """Each fold's StandardScaler (means, scales) and PCA axes at the largest size searched, and the fold
    that holds out each row of the split."""

    means: np.ndarray  # folds x features
    scales: np.ndarray  # folds x features
    axes: np.ndarray  # folds x features x components
    held_out_by: np.ndarray  # a fold number per row of the split

    def of_fold(self, fold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.means[fold], self.scales[fold], self.axes[fold]

    def fold_rows(self, split_rows: np.ndarray) -> list[tuple]:
        """``fold_rows``'s folds of ``split_rows`` again, without drawing them."""
        return [
            (split_rows[self.held_out_by != fold], split_rows[self.held_out_by == fold])
            for fold in range(len(self.means))
        ]


def fold_rows(labels: np.ndarray, split_rows: np.ndarray, folds: int, seed: int) -> list[tuple]:
    """Each fold's (training rows, held-out rows) of the split ``split_rows``, as rows of the window."""
    # Imported here: CV chunks read their folds (Projections.fold_rows) and so run without scikit-learn,
    # whose import is about 70 MiB of a task's memory.
    from sklearn.model_selection import StratifiedKFold

    split_labels = np.asarray(labels)[split_rows]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        (split_rows[train], split_rows[test])
        for train, test in splitter.split(np.zeros(len(split_labels)), split_labels)
    ]


def row_blocks(features, rows: np.ndarray, size: int = BLOCK_ROWS):
    """``features[rows]`` as blocks of ``size`` rows, from a matrix or from ``WindowFiles`` (``rows``
    ascending): never a copy of all the rows at once."""
    if not isinstance(features, np.ndarray):
        yield from features.blocks(rows, size)
        return
    for first in range(0, len(rows), size):
        yield np.asarray(features[rows[first : first + size]], dtype=np.float64)


def fit_projections(features: np.ndarray, folds: list[tuple], components: int) -> Projections:
    """Every fold's StandardScaler then ``PCA(components)`` on its training rows, from one pass."""
    held_out = [test for _, test in folds]
    count = sum(len(rows) for rows in held_out)
    shift = sum(block.sum(axis=0) for rows in held_out for block in row_blocks(features, rows)) / count
    sums, products = zip(*(_shifted_sums(features, rows, shift) for rows in held_out), strict=True)
    all_sums, all_products = sum(sums), sum(products)
    fitted = [
        _projection(all_sums - sums[fold], all_products - products[fold], count - len(test), components)
        for fold, (_, test) in enumerate(folds)
    ]
    split_rows = np.sort(np.concatenate(held_out))
    held_out_by = np.empty(count, dtype=np.int8)
    for fold, rows in enumerate(held_out):
        held_out_by[np.searchsorted(split_rows, rows)] = fold
    return Projections(
        means=np.array([shift + mean for mean, _, _ in fitted]),
        scales=np.array([scale for _, scale, _ in fitted]),
        axes=np.array([axes for _, _, axes in fitted]),
        held_out_by=held_out_by,
    )


def fit_projection(features: np.ndarray, rows: np.ndarray, components: int) -> tuple:
    """StandardScaler then ``PCA(components)`` fitted on ``rows``: mean, scale and PCA axes."""
    shift = sum(block.sum(axis=0) for block in row_blocks(features, rows)) / len(rows)
    mean, scale, axes = _projection(*_shifted_sums(features, rows, shift), len(rows), components)
    return shift + mean, scale, axes


def _shifted_sums(features: np.ndarray, rows: np.ndarray, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sum and the cross-products of ``features[rows] - shift``, a block of rows at a time."""
    total, product = np.zeros(features.shape[1]), np.zeros((features.shape[1],) * 2)
    for block in row_blocks(features, rows):
        block -= shift
        total += block.sum(axis=0)
        product += block.T @ block
    return total, product


def _projection(total: np.ndarray, product: np.ndarray, rows: int, components: int) -> tuple:
    """Mean (of the shifted rows), scale and the top ``components`` PCA axes from sums over ``rows``."""
    mean = total / rows
    covariance = product / rows - np.outer(mean, mean)
    scale = np.sqrt(np.clip(np.diag(covariance), 0, None))
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0  # constant columns stay as they are
    gram = covariance / np.outer(scale, scale) * (rows / (rows - 1))
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    return mean, scale, eigenvectors[:, np.argsort(eigenvalues)[::-1][:components]]


def apply_projection(
    features: np.ndarray, rows: np.ndarray, projection: tuple, out: np.ndarray
) -> np.ndarray:
    """Standardise and project ``rows`` into ``out`` (column-major: the first k columns are one block)."""
    mean, scale, axes = projection
    first = 0
    for block in row_blocks(features, rows):
        block -= mean
        block /= scale
        out[first : first + len(block)] = block @ axes
        first += len(block)
    return out


def projections_bytes(projections: Projections) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **vars(projections))
    return buffer.getvalue()


def projections_from_bytes(data: bytes) -> Projections:
    with np.load(io.BytesIO(data)) as arrays:
        return Projections(**{name: arrays[name] for name in Projections.__dataclass_fields__})
