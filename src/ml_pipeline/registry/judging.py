"""Champion and challenger judged on the same rows, which neither of them trained on.

The challenger's test split may hold rows the champion was fitted on: the days its training window shares
with today's, or a file sent again on another day. Such rows favour the champion, so both models are
scored on the test rows whose values appear neither in the champion's training window nor in the
challenger's train split; a row is known by a 64-bit fingerprint of its values and label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.db import sql
from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.batch_store import load_batches
from ml_pipeline.registry.promotion import champion_accuracy
from ml_pipeline.training.training_data import run_window, window_days

BLOCK_ROWS = 65536


def _mixed(words: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place: every bit of a word moves every bit of the result, so that
    integer-valued floats (whose low bits are all zero) and signs are told apart like any other value."""
    words ^= words >> np.uint64(30)
    words *= np.uint64(0xBF58476D1CE4E5B9)
    words ^= words >> np.uint64(27)
    words *= np.uint64(0x94D049BB133111EB)
    words ^= words >> np.uint64(31)
    return words


def row_keys(batch: Batch) -> np.ndarray:
    """A fingerprint per row, equal for rows of equal values and label (computed a block at a time):
    each value mixed, then summed with a weight per column (odd, so no column cancels out)."""
    width = batch.features.shape[1]
    weights = _mixed(np.arange(1, width + 2, dtype=np.uint64)) | np.uint64(1)
    keys = np.empty(len(batch), dtype=np.uint64)
    for first in range(0, len(batch), BLOCK_ROWS):
        block = np.ascontiguousarray(batch.features[first : first + BLOCK_ROWS], dtype="<f8") + 0.0
        keys[first : first + BLOCK_ROWS] = _mixed(block.view(np.uint64)) @ weights[:width]  # -0.0 is 0.0
    keys += _mixed(np.asarray(batch.labels).astype(np.uint64)) * weights[width]
    return keys


@dataclass(frozen=True)
class SeenByChampion:
    """The champion's training window, and the fingerprints of its rows on the days outside the run's
    own window (the days inside are in the window the run reads anyway)."""

    first: date
    after: date
    outside: np.ndarray

    def keys(self, window_keys: np.ndarray, days: list[tuple[date, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Every fingerprint of the champion's rows: those outside, and those of the window's days
        (``window_keys``: its rows' ``row_keys``; ``days``: each day of the window and its rows, in
        order) that the champion's window holds."""
        offsets = np.cumsum([0, *(rows for _, rows in days)])
        chosen = [
            np.arange(offsets[i], offsets[i + 1])
            for i, (day, _) in enumerate(days)
            if self.first <= day < self.after
        ]
        rows = np.concatenate([np.empty(0, dtype=np.int64), *chosen])
        return self.outside, window_keys[rows]


def seen_by_champion(
    connection, config: PipelineConfig, run: RunKey, champion: dict
) -> SeenByChampion | None:
    """What ``champion`` was trained on, its rows outside the run's window read a day at a time; None if
    it is no longer the dataset's champion (the two are then compared on their own days' scores)."""
    dataset = config.declaration()
    with connection.transaction():
        row = connection.execute(sql("select_champion_training"), {"dataset": dataset.name}).fetchone()
        if row is None or row[0] != champion["version"]:
            return None
        first, after = row[1] - timedelta(days=row[2] - 1), row[1] + timedelta(days=1)
        days = window_days(connection, dataset, first, after)
    run_first, run_after = run_window(config, run)
    outside = [np.empty(0, dtype=np.uint64)]
    for day, _ in days:
        if not run_first <= day < run_after:
            outside.append(row_keys(load_batches(connection, dataset, day, day + timedelta(days=1))))
    return SeenByChampion(first, after, np.concatenate(outside))


def unseen_rows(test: Batch, *seen: np.ndarray) -> np.ndarray:
    """Which of the test rows are in none of the ``seen`` sets of fingerprints."""
    return ~np.isin(row_keys(test), np.concatenate([np.empty(0, dtype=np.uint64), *seen]))


def predicted(decision: np.ndarray) -> np.ndarray:
    """The class (index) a decision function picks: positive for class 1, else the largest column."""
    return (decision > 0).astype(np.int64) if decision.ndim == 1 else decision.argmax(axis=1)


def judge(models_dir: Path, champion: dict, test: Batch, decision: np.ndarray, unseen: np.ndarray) -> dict:
    """Both models' accuracy on the test rows marked ``unseen`` (None without such rows); the
    champion's is None too if its file cannot be loaded or trusted."""
    rows = np.flatnonzero(unseen)
    judged = {"version": champion["version"], "rows": int(len(rows)), "test_rows": len(test)}
    if not len(rows):
        return {**judged, "challenger": None, "champion": None}
    labels = np.asarray(test.labels)[rows]
    challenger = float((predicted(decision)[rows] == labels).mean())
    measured = champion_accuracy(models_dir, champion, test.take(rows))
    return {**judged, "challenger": challenger, "champion": measured["accuracy"]}
