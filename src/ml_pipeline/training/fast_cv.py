"""The cross-validated grid search over StandardScaler -> PCA -> LogisticRegression, fast.

It scores the candidates ``GridSearchCV(build_pipeline(), param_grid(...), cv=folds)`` scores, on the
same stratified folds, to solver tolerance, with far less work:

- PCA components are nested: the first k components of a PCA fitted at the largest size are those of
  a PCA fitted at size k. So each fold standardises and projects its rows once, at the largest size,
  and every k uses the first k columns of that projection.
- Each fit of LogisticRegression's objective (L-BFGS, as its default solver) starts from the nearest
  solution already found: the previous C for the same k, or the smallest C of k - 1. Warm-started fits
  converge in a few iterations.
- Within a fold, chains of consecutive PCA sizes of similar cost go to one thread per core. NumPy and
  SciPy release the GIL in the row-sized work, and BLAS keeps to one thread per worker, so threads and
  BLAS don't fight over the cores, and the fold's projection is shared rather than copied.
- The objectives L-BFGS minimises, binary and multinomial, are in ``objectives``.
- The PCA sizes can be split into chunks (``grid_chunks``), scored apart (``score_chunk``, one mapped
  task each in the DAG) and put together (``gather_scores``).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import available_cores
from ml_pipeline.training.model import C_PARAM, PCA_PARAM, candidates
from ml_pipeline.training.objectives import objective_for

FIT_COST_OFFSET = 20
# Consecutive PCA sizes warm-started one from the next, as one thread's share of a fold.
SIZES_PER_CHAIN = 5


@dataclass
class SearchResult:
    candidates: list[dict]
    mean_scores: np.ndarray
    std_scores: np.ndarray
    ranks: np.ndarray

    @property
    def best_index(self) -> int:
        """The first candidate of rank 1, as ``GridSearchCV.best_index_``."""
        return int(np.flatnonzero(self.ranks == 1)[0])

    @property
    def best_params(self) -> dict:
        return self.candidates[self.best_index]


def cross_validate_grid(
    batch: Batch, grid: dict[str, list], folds: int, seed: int, n_jobs: int = 0, chunks: int = 1
) -> SearchResult:
    """Mean and std accuracy over stratified folds for every candidate of ``grid``, computed as
    ``chunks`` parts one after another: what the DAG's mapped CV tasks compute side by side."""
    parts = grid_chunks(grid[PCA_PARAM], chunks)
    scores = [score_chunk(batch, part, grid[C_PARAM], folds, seed, n_jobs) for part in parts]
    return gather_scores(grid, parts, scores)


def grid_chunks(sizes: list[int], count: int) -> list[list[int]]:
    """The grid's PCA sizes split into at most ``count`` runs of consecutive sizes of similar cost.

    Each run is one CV chunk: it projects every fold once, at its largest size, and warm-starts
    along its sizes; only the first size of a chunk starts cold.
    """
    ordered = sorted(sizes)
    return _contiguous_ranges(ordered, min(count, len(ordered)))


def score_chunk(
    batch: Batch, sizes: list[int], c_values: list[float], folds: int, seed: int, n_jobs: int = 0
) -> np.ndarray:
    """Held-out accuracy of every (fold, C, PCA size) for consecutive ``sizes``: scores[fold, c, k].

    The work is split into warm-start chains fixed by ``sizes`` alone, never by the core count, so a
    chunk gives bit-identical scores on whichever machine runs it.
    """
    chains = _contiguous_ranges(sizes, math.ceil(len(sizes) / SIZES_PER_CHAIN))
    workers = min(n_jobs or available_cores(), len(chains))
    labels = np.asarray(batch.labels)
    scores = np.empty((folds, len(c_values), len(sizes)))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_rows = list(splitter.split(np.zeros(len(labels)), labels))
    # Every fold's projections go into the same two buffers: no fold allocates its own.
    train_buffer = np.empty((max(len(train) for train, _ in fold_rows), max(sizes)), order="F")
    test_buffer = np.empty((max(len(test) for _, test in fold_rows), max(sizes)), order="F")
    with ThreadPoolExecutor(max_workers=workers) as pool, threadpool_limits(limits=1):
        for fold, (train, test) in enumerate(fold_rows):
            projection = fit_projection(batch.features, train, max(sizes))
            projected_train = apply_projection(batch.features, train, projection, train_buffer[: len(train)])
            projected_test = apply_projection(batch.features, test, projection, test_buffer[: len(test)])
            jobs = [
                pool.submit(
                    _score_sizes,
                    projected_train,
                    labels[train],
                    projected_test,
                    labels[test],
                    chain,
                    c_values,
                )
                for chain in chains
            ]
            for chain, job in zip(chains, jobs, strict=True):
                first = sizes.index(chain[0])
                scores[fold, :, first : first + len(chain)] = job.result().T
    return scores


def gather_scores(grid: dict[str, list], parts: list[list[int]], scores: list[np.ndarray]) -> SearchResult:
    """The chunks' scores[fold, c, k] put together in the grid's candidate order, averaged over folds."""
    sizes = [k for part in parts for k in part]
    combined = np.concatenate([np.asarray(part_scores) for part_scores in scores], axis=2)
    # Back to the grid's own order of PCA sizes, which need not be sorted; C outer, PCA size inner.
    columns = [sizes.index(k) for k in grid[PCA_PARAM]]
    per_candidate = combined[:, :, columns].reshape(len(combined), -1)
    mean, std = per_candidate.mean(axis=0), per_candidate.std(axis=0)
    return SearchResult(candidates(grid), mean, std, ranks_of(mean))


def ranks_of(mean_scores: np.ndarray) -> np.ndarray:
    """Rank 1 for the best mean score, ties sharing the smaller rank, as GridSearchCV does."""
    return rankdata(-mean_scores, method="min").astype(int)


def _contiguous_ranges(sizes: list[int], count: int) -> list[list[int]]:
    """Split sorted PCA sizes into ``count`` runs of consecutive sizes with similar total cost.

    Consecutive sizes let each k start from the solution of k - 1. A fit's time grows as
    k + FIT_COST_OFFSET (measured: the per-row work of the loss costs about as much as 20 columns).
    """
    total = sum(k + FIT_COST_OFFSET for k in sizes)
    ranges, current, spent = [], [], 0
    for k in sizes:
        current.append(k)
        spent += k + FIT_COST_OFFSET
        if len(ranges) < count - 1 and spent >= total * (len(ranges) + 1) / count:
            ranges.append(current)
            current = []
    return ranges + ([current] if current else [])


def fit_projection(
    features: np.ndarray, rows: np.ndarray, components: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``StandardScaler`` then ``PCA(components)`` fitted on ``rows``: mean, scale and PCA axes.

    Computed from per-feature sums over blocks of rows, so no full copy of the rows is ever made.
    """
    mean = sum(block.sum(axis=0) for block in _row_blocks(features, rows)) / len(rows)
    centered_square = sum(((block - mean) ** 2).sum(axis=0) for block in _row_blocks(features, rows))
    scale = np.sqrt(centered_square / len(rows))
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0  # constant columns stay as they are
    gram = sum(
        standardised.T @ standardised
        for standardised in ((block - mean) / scale for block in _row_blocks(features, rows))
    )
    eigenvalues, eigenvectors = np.linalg.eigh(gram / (len(rows) - 1))
    return mean, scale, eigenvectors[:, np.argsort(eigenvalues)[::-1][:components]]


def apply_projection(
    features: np.ndarray, rows: np.ndarray, projection: tuple, out: np.ndarray
) -> np.ndarray:
    """Standardise and project ``rows`` into ``out`` (column-major: the first k columns are one block)."""
    mean, scale, axes = projection
    first = 0
    for block in _row_blocks(features, rows):
        out[first : first + len(block)] = ((block - mean) / scale) @ axes
        first += len(block)
    return out


def _row_blocks(features: np.ndarray, rows: np.ndarray, size: int = 4096):
    for first in range(0, len(rows), size):
        yield np.asarray(features[rows[first : first + size]], dtype=np.float64)


def _score_sizes(
    train: np.ndarray,
    train_labels: np.ndarray,
    test: np.ndarray,
    test_labels: np.ndarray,
    sizes: list[int],
    c_values: list[float],
) -> np.ndarray:
    """Held-out accuracy for each consecutive PCA size in ``sizes`` x each C.

    Fits LogisticRegression's objective with L-BFGS, as ``LogisticRegression(solver="lbfgs")`` does
    (binary, or multinomial for three classes or more), starting each fit from the nearest solution
    already found: the previous C for the same k, or for the smallest C, the solution for k - 1 with
    zero weights for the new component.
    """
    classes = int(max(train_labels.max(), test_labels.max())) + 1
    scores = np.empty((len(sizes), len(c_values)))
    order = np.argsort(c_values)
    smallest_c_solution = None
    for row, k in enumerate(sizes):
        objective = objective_for(train[:, :k], train_labels, classes)
        start = objective.widen(smallest_c_solution)
        for step, column in enumerate(order):
            solution = objective.minimise(c_values[column], start)
            scores[row, column] = np.mean(objective.predict(test[:, :k], solution) == test_labels)
            if step == 0:
                smallest_c_solution = solution
            start = solution
    return scores
