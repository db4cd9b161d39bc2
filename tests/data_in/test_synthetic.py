"""The synthetic source is make_classification's rows in a seeded order, its columns in a seeded order of
the declared features, the first third moved by ``shift`` standard deviations: built a block of rows at a
time, it gives the table made the plain way, holding whole copies."""

import math

import numpy as np
import pyarrow as pa
import pytest
from sklearn.datasets import make_classification

from ml_pipeline.basics.datasets import load
from ml_pipeline.data_in.synthetic import BLOCK_ROWS, shifted_features, synthetic_table
from samples import BREAST_CANCER, CHURN, WINE


def plain_table(dataset, rows: int, seed: int, shift: float) -> pa.Table:
    n_features, n_classes = len(dataset.features), len(dataset.classes)
    informative = min(max(math.ceil(n_features / 3), math.ceil(math.log2(2 * n_classes))), n_features)
    features, labels = make_classification(
        n_samples=rows, n_features=n_features, n_informative=informative,
        n_redundant=min(informative, n_features - informative), n_classes=n_classes, class_sep=1.0,
        shuffle=False, random_state=seed,
    )  # fmt: skip
    generator = np.random.default_rng(seed)
    order, column_order = generator.permutation(rows), generator.permutation(n_features)
    columns = {}
    for index, name in enumerate(dataset.features):
        column = features[order, column_order[index]]
        if shift and index < shifted_features(n_features):
            column += shift * column.std()
        columns[name] = column
    return pa.table({**columns, dataset.label: np.asarray(dataset.classes)[labels[order]]})


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("datasets")
    (folder / "churn.toml").write_text(CHURN)
    return load(folder, "churn")


@pytest.mark.parametrize("rows", [40, BLOCK_ROWS, BLOCK_ROWS + 1, 3 * BLOCK_ROWS + 5])
@pytest.mark.parametrize("shift", [0.0, 1.5])
def test_the_table_built_by_blocks_is_the_table_made_whole(rows, shift, churn):
    for dataset in (BREAST_CANCER, WINE, churn):  # 30, 13 and 3 features; classes as numbers or text
        built, plain = synthetic_table(dataset, rows, 3, shift), plain_table(dataset, rows, 3, shift)
        assert built.num_rows == rows and built.column_names == plain.column_names
        assert built.equals(plain), (dataset.name, rows, shift)


def test_another_seed_gives_other_rows():
    first, second = synthetic_table(BREAST_CANCER, 500, 1), synthetic_table(BREAST_CANCER, 500, 2)
    assert not first.equals(second)
    assert synthetic_table(BREAST_CANCER, 500, 1).equals(first)
