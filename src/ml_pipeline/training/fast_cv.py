"""The cross-validated grid search over StandardScaler -> PCA -> LogisticRegression, fast.

It scores the candidates ``GridSearchCV(build_pipeline(), param_grid(...), cv=folds)`` scores, on the
same stratified folds, to solver tolerance, with far less work:

- PCA components are nested: the first k components of a PCA fitted at the largest size are those of
  a PCA fitted at size k. So each fold's standardisation and projection are fitted once, at the
  largest size (``folds``), each fold's rows projected once, and every k uses the first k columns.
- Each fit of LogisticRegression's objective (L-BFGS, as its default solver) starts from the nearest
  solution already found: the previous C for the same k, or the smallest C of k - 1. Warm-started fits
  converge in a few iterations.
- The work divides into units, one fold and one chain of consecutive PCA sizes each, fixed by the grid
  alone. Within a fold, its chains go to one thread per core: NumPy and SciPy release the GIL in the
  row-sized work, and BLAS keeps to one thread per worker, so threads and BLAS don't fight over the
  cores, and the fold's projection is shared rather than copied.
- The objectives L-BFGS minimises, binary and multinomial, are in ``objectives``.
- The units can be divided into chunks of similar cost (``grid_chunks``), scored apart
  (``score_units``, one mapped task each in the DAG) and put together (``gather_scores``): the same
  bits however they are divided.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import available_cores
from ml_pipeline.training.folds import Projections, apply_projection, fit_projections, fold_rows
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


Unit = tuple[int, list[int]]  # one fold, and one warm-start chain of consecutive PCA sizes


def cross_validate_grid(
    batch: Batch, grid: dict[str, list], folds: int, seed: int, n_jobs: int = 0, chunks: int = 1
) -> SearchResult:
    """Mean and std accuracy over stratified folds for every candidate of ``grid``, computed as
    ``chunks`` parts one after another: what the DAG's mapped CV tasks compute side by side."""
    rows = fold_rows(batch.labels, np.arange(len(batch)), folds, seed)
    projections = fit_projections(batch.features, rows, max(grid[PCA_PARAM]))
    parts = grid_chunks(grid[PCA_PARAM], folds, chunks)
    scores = [
        score_units(batch.features, batch.labels, rows, projections, part, grid[C_PARAM], n_jobs)
        for part in parts
    ]
    return gather_scores(grid, folds, [unit for part in parts for unit in part], sum(scores, []))


def size_chains(sizes: list[int]) -> list[list[int]]:
    """The grid's PCA sizes as runs of about SIZES_PER_CHAIN consecutive sizes of similar cost, each fit
    warm-started from the one before; fixed by the grid alone, so that how the work is divided among
    tasks or cores never changes a score's bits."""
    ordered = sorted(sizes)
    return _contiguous_ranges(ordered, math.ceil(len(ordered) / SIZES_PER_CHAIN))


def unit_cost(unit: Unit) -> int:
    """A unit's fits cost, in the model of ``_contiguous_ranges``: k + FIT_COST_OFFSET per size."""
    return sum(k + FIT_COST_OFFSET for k in unit[1])


def grid_chunks(sizes: list[int], folds: int, count: int) -> list[list[Unit]]:
    """Every (fold, chain) of the grid divided into at most ``count`` chunks of similar cost.

    Units go fold by fold, each chunk a contiguous run of them: a chunk applies few folds'
    projections, and the largest chunk is as small as contiguous runs allow."""
    units = [(fold, chain) for fold in range(folds) for chain in size_chains(sizes)]
    count = max(1, min(count, len(units)))
    costs = [unit_cost(unit) for unit in units]
    low, high = max(costs), sum(costs)
    while low < high:  # the smallest largest-chunk cost that needs no more than ``count`` runs
        middle = (low + high) // 2
        low, high = (middle + 1, high) if len(_runs(costs, middle)) > count else (low, middle)
    return [[units[i] for i in run] for run in _runs(costs, low)]


def _runs(costs: list[int], limit: int) -> list[list[int]]:
    runs, current, spent = [], [], 0
    for index, cost in enumerate(costs):
        if current and spent + cost > limit:
            runs.append(current)
            current, spent = [], 0
        current.append(index)
        spent += cost
    return runs + [current]


def score_units(
    features: np.ndarray,
    labels: np.ndarray,
    rows: list[tuple],
    projections: Projections,
    units: list[Unit],
    c_values: list[float],
    n_jobs: int = 0,
    clock: dict | None = None,
) -> list[list]:
    """Held-out accuracy of every C and PCA size of each unit: one [C][size] table per unit.

    Fold by fold, the fold's rows are standardised and projected once, at the projections' full size
    (whatever sizes the chunk holds, for the same bits), and its chains fit on threads sharing them.
    ``clock`` gets the seconds spent projecting and fitting."""
    clock = {} if clock is None else clock
    clock.setdefault("projections", 0.0)
    clock.setdefault("fits", 0.0)
    labels = np.asarray(labels)
    width = projections.axes.shape[2]
    tables: list = [None] * len(units)
    used = sorted({fold for fold, _ in units})
    train_buffer = np.empty((max(len(rows[f][0]) for f in used), width), order="F")
    test_buffer = np.empty((max(len(rows[f][1]) for f in used), width), order="F")
    workers = min(n_jobs or available_cores(), len(units))
    with ThreadPoolExecutor(max_workers=workers) as pool, threadpool_limits(limits=1):
        for fold in used:
            started = time.monotonic()
            train, test = rows[fold]
            projection = projections.of_fold(fold)
            projected_train = apply_projection(features, train, projection, train_buffer[: len(train)])
            projected_test = apply_projection(features, test, projection, test_buffer[: len(test)])
            projected = time.monotonic()
            clock["projections"] += projected - started
            mine = sorted(
                (i for i, unit in enumerate(units) if unit[0] == fold), key=lambda i: -unit_cost(units[i])
            )
            jobs = {
                i: pool.submit(
                    _score_sizes,
                    projected_train, labels[train], projected_test, labels[test], units[i][1], c_values,
                )
                for i in mine
            }  # fmt: skip
            for i, job in jobs.items():
                tables[i] = job.result().T.tolist()
            clock["fits"] += time.monotonic() - projected
    return tables


def gather_scores(grid: dict[str, list], folds: int, units: list, tables: list) -> SearchResult:
    """The units' tables put together in the grid's candidate order, averaged over folds."""
    sizes = sorted(grid[PCA_PARAM])
    combined = np.full((folds, len(grid[C_PARAM]), len(sizes)), np.nan)
    for (fold, chain), table in zip(units, tables, strict=True):
        first = sizes.index(chain[0])
        combined[fold, :, first : first + len(chain)] = table
    if np.isnan(combined).any():
        raise ValueError("The CV chunks' scores do not cover every fold and candidate of the grid.")
    # Back to the grid's own order of PCA sizes, which need not be sorted; C outer, PCA size inner.
    columns = [sizes.index(k) for k in grid[PCA_PARAM]]
    per_candidate = combined[:, :, columns].reshape(folds, -1)
    mean, std = per_candidate.mean(axis=0), per_candidate.std(axis=0)
    return SearchResult(candidates(grid), mean, std, ranks_of(mean))


def ranks_of(mean_scores: np.ndarray) -> np.ndarray:
    """Rank 1 for the best mean score, ties sharing the smaller rank, as GridSearchCV does."""
    # Imported here: only the gather ranks, and scipy.stats would add about 30 MiB to every CV chunk.
    from scipy.stats import rankdata

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
