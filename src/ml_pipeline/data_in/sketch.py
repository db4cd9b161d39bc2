"""Each stored batch's features as quantile sketches: per feature, its quantiles at 0, 1/LEVELS, ...,
1, recorded with the batch (batch_store.py). The drift check (drift.py) reads any batch's, or any
window's, distribution from them without reading the rows: a day of a million rows is 30 sketches of
LEVELS + 1 numbers.

A share read off a sketch is within 1/LEVELS of the share counted on the rows; between two quantiles
the sketch is read as a straight line, closer still for smooth distributions.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

LEVELS = 1000
PROBABILITIES = np.linspace(0.0, 1.0, LEVELS + 1)


def per_column(function, features: np.ndarray) -> list:
    """``function(column)`` for each column of ``features``; NumPy's sorts and searches let go of the
    GIL, so threads use every core."""
    columns = (features[:, index] for index in range(features.shape[1]))
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(function, columns))


def column_quantiles(column: np.ndarray) -> np.ndarray:
    """The column's quantiles at PROBABILITIES, interpolated linearly between order statistics (as
    ``np.quantile`` does), from one sort."""
    ordered = np.sort(column)
    position = PROBABILITIES * (len(ordered) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def feature_quantiles(features: np.ndarray) -> np.ndarray:
    """One sketch per column of ``features`` (a row each), (n_features, LEVELS + 1)."""
    if not len(features):
        raise ValueError("An empty batch has no quantiles.")
    return np.vstack(per_column(column_quantiles, features))


def fraction_below(sketch: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The share of the sketched values strictly below each of ``points``.

    A point equal to a run of tied quantiles (a value many rows share) counts the rows below the run
    only, as ``np.searchsorted(edges, values, side="right")`` bins them.
    """
    points = np.asarray(points, dtype=float)
    above = np.searchsorted(sketch, points, side="left")  # the first quantile >= the point
    inside = (above > 0) & (above <= LEVELS)
    upper = np.minimum(above, LEVELS)
    lower = np.maximum(upper - 1, 0)
    width = sketch[upper] - sketch[lower]
    exact = sketch[upper] == points
    step = np.divide(points - sketch[lower], width, out=np.zeros_like(points), where=width > 0)
    share = np.where(exact, PROBABILITIES[upper], PROBABILITIES[lower] + step / LEVELS)
    return np.where(above == 0, 0.0, np.where(inside, share, 1.0))


def mixture_below(sketches: list[np.ndarray], weights: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The share of several batches' values together strictly below each of ``points``, from their
    sketches of one feature, each weighted by its share of the rows."""
    return sum(
        weight * fraction_below(sketch, points) for sketch, weight in zip(sketches, weights, strict=True)
    )


def mixture_quantiles(sketches: list[np.ndarray], weights: np.ndarray, probabilities) -> np.ndarray:
    """The quantiles at ``probabilities`` of several batches' values together (see mixture_below)."""
    if len(sketches) == 1:
        return np.interp(probabilities, PROBABILITIES, sketches[0])
    candidates = np.unique(np.concatenate(sketches))
    below = mixture_below(sketches, weights, candidates)
    # The largest candidate with at most the wanted share of the rows below it.
    chosen = np.searchsorted(below, probabilities, side="right") - 1
    return candidates[np.clip(chosen, 0, len(candidates) - 1)]
