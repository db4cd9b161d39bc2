"""Quantile sketches: shares read off a batch's sketch agree with the shares counted on its rows."""

import numpy as np
import pytest

from ml_pipeline.data_in.sketch import (
    LEVELS,
    column_quantiles,
    feature_quantiles,
    fraction_below,
    mixture_quantiles,
)


def counted_below(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.sort(values), points, side="left") / len(values)


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(0).normal(size=200_000),
        np.random.default_rng(1).lognormal(0, 2, size=200_000),  # long-tailed
        np.random.default_rng(2).integers(0, 5, size=200_000).astype(float),  # ties everywhere
        np.random.default_rng(3).normal(size=37),  # fewer rows than quantiles
    ],
    ids=["normal", "lognormal", "integers", "tiny"],
)
def test_a_sketch_gives_each_share_within_one_level(values):
    sketch = column_quantiles(values)
    np.testing.assert_allclose(sketch, np.quantile(values, np.linspace(0, 1, LEVELS + 1)), rtol=1e-12)
    points = np.concatenate([np.quantile(values, np.linspace(0.05, 0.95, 19)), [-1e9, 1e9], values[:50]])
    # Within a level, and within a row: np.quantile puts the k-th of n values at (k - 1) / (n - 1).
    error = np.abs(fraction_below(sketch, points) - counted_below(values, points)).max()
    assert error <= 1 / LEVELS + 1 / len(values)


def test_a_mixtures_quantiles_are_those_of_the_rows_together():
    rng = np.random.default_rng(4)
    days = [rng.normal(0, 1, 100_000), rng.normal(3, 2, 300_000)]
    together = np.concatenate(days)
    wanted = np.linspace(0.1, 0.9, 9)
    found = mixture_quantiles([column_quantiles(d) for d in days], np.array([0.25, 0.75]), wanted)
    # Each found quantile has the wanted share of the rows below it, within the sketches' resolution.
    assert np.abs(counted_below(together, found) - wanted).max() <= 2 / LEVELS


def test_every_feature_gets_its_sketch_and_an_empty_batch_none():
    features = np.random.default_rng(5).normal(size=(1_000, 4)) + np.arange(4)
    sketches = feature_quantiles(features)
    assert sketches.shape == (4, LEVELS + 1)
    np.testing.assert_allclose(sketches[:, LEVELS // 2], np.median(features, axis=0))
    with pytest.raises(ValueError, match="empty batch"):
        feature_quantiles(np.empty((0, 4)))
