"""The synthetic source: a seeded table shaped like a dataset's declaration (``make_classification``),
built a block of rows at a time so that the rows are held about once while it is made."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from ml_pipeline.basics.datasets import Dataset

BLOCK_ROWS = 16384


def synthetic_table(dataset: Dataset, rows: int, seed: int, shift: float = 0.0) -> pa.Table:
    """A seeded table shaped like ``dataset``: its features, its classes as declared. With ``shift``,
    the first third of its features are moved by that many of their standard deviations: a batch
    from a drifted distribution."""
    from sklearn.datasets import make_classification

    n_features, n_classes = len(dataset.features), len(dataset.classes)
    informative = max(math.ceil(n_features / 3), math.ceil(math.log2(2 * n_classes)))
    features, labels = make_classification(
        n_samples=rows,
        n_features=n_features,
        n_informative=min(informative, n_features),
        n_redundant=min(informative, n_features - min(informative, n_features)),
        n_classes=n_classes,
        class_sep=1.0,
        shuffle=False,
        random_state=seed,
    )
    # The rows shuffled in place, as ``order`` orders them (the same draws, from a second generator):
    # make_classification's own shuffle would hold two more copies of the rows.
    generator, replay = np.random.default_rng(seed), np.random.default_rng(seed)
    order = generator.permutation(rows)
    # Each row as one 240-byte item (for 30 features): the same swaps, in C rather than row by row.
    replay.shuffle(features.view(np.dtype((np.void, features.shape[1] * 8)))[:, 0])
    column_order = generator.permutation(n_features)
    moved = shifted_features(n_features) if shift else 0
    offsets = [shift * features[:, column_order[index]].std() for index in range(moved)]
    classes = np.asarray(dataset.classes)[labels[order]]
    del labels, order
    # Blocks of rows taken from the end, the matrix shrunk behind each: the rows are held about once.
    blocks = []
    for first in reversed(range(0, rows, BLOCK_ROWS)):
        block_classes = classes[first : first + BLOCK_ROWS]
        blocks.append(_synthetic_block(features[first:], column_order, offsets, dataset, block_classes))
        features.resize((first, n_features))
    return pa.Table.from_batches(blocks[::-1])


def _synthetic_block(
    features: np.ndarray, column_order: np.ndarray, offsets: list, dataset: Dataset, block_classes: np.ndarray
) -> pa.RecordBatch:
    """A block of rows as a record batch of the dataset's columns, each in memory of its own."""
    columns = {}
    for index, name in enumerate(dataset.features):
        column = features[:, column_order[index]]
        columns[name] = pa.array(column + offsets[index] if index < len(offsets) else column.copy())
    return pa.record_batch({**columns, dataset.label: pa.array(block_classes)})


def shifted_features(n_features: int) -> int:
    """How many of the first features ``synthetic_shift`` moves."""
    return max(1, n_features // 3)
