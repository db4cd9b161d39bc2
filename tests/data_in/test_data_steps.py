"""Fetching and splitting a batch, and where a run's model goes."""

from datetime import UTC, date
from pathlib import Path

import numpy as np
import pytest

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.declaration_rules import normalise
from ml_pipeline.basics.run import RunKey, model_path
from ml_pipeline.data_in.sources import fetch_batch
from ml_pipeline.training.split import split_batch
from samples import DATASETS_DIR, FEATURE_COLUMNS, breast_cancer_batch

# The breast-cancer table's 30 columns, as the shipped declaration lists them.
BREAST_CANCER_NAMES = (
    *(f"mean_{name}" for name in ("radius", "texture", "perimeter", "area", "smoothness", "compactness",
                                   "concavity", "concave_points", "symmetry", "fractal_dimension")),
    *(f"{name}_error" for name in ("radius", "texture", "perimeter", "area", "smoothness", "compactness",
                                    "concavity", "concave_points", "symmetry", "fractal_dimension")),
    *(f"worst_{name}" for name in ("radius", "texture", "perimeter", "area", "smoothness", "compactness",
                                    "concavity", "concave_points", "symmetry", "fractal_dimension")),
)  # fmt: skip


def test_breast_cancer_source_is_the_whole_table(cancer):
    assert cancer.features.shape == (569, 30)
    assert np.bincount(cancer.labels).tolist() == [212, 357]
    assert cancer.feature_names[:2] == ("mean_radius", "mean_texture")
    assert cancer.feature_names[-1] == "worst_fractal_dimension"


def scikit_learn_names(load) -> tuple[str, ...]:
    """A bundled table's feature names as scikit-learn gives them, spelled as SQL columns here."""
    return tuple(name.replace(" ", "_").replace("/", "_") for name in load().feature_names)


def test_feature_columns_are_the_tables_features_in_order():
    from sklearn.datasets import load_breast_cancer

    assert breast_cancer_batch().feature_names == scikit_learn_names(load_breast_cancer)
    np.testing.assert_array_equal(breast_cancer_batch().features, load_breast_cancer().data)


def test_scikit_learn_names_are_matched_to_the_declared_columns():
    assert normalise("mean concave points") == "mean_concave_points"
    assert normalise("od280/od315_of_diluted_wines") == "od280_od315_of_diluted_wines"
    assert all(name.isidentifier() and name.islower() for name in FEATURE_COLUMNS)


def test_synthetic_source_is_seeded_and_shaped_like_the_table():
    config = PipelineConfig(
        source="synthetic", synthetic_rows=1000, random_seed=3, datasets_dir=str(DATASETS_DIR)
    )
    first, second = (fetch_batch(config, date(2026, 1, 1)).batch for _ in range(2))
    assert first.features.shape == (1000, 30) and first.feature_names == BREAST_CANCER_NAMES
    assert first.sha256() == second.sha256()
    assert set(np.unique(first.labels)) == {0, 1}


def test_wine_is_one_setting_away():
    config = PipelineConfig.from_env(
        {"ML_PIPELINE_DATASET": "wine", "ML_PIPELINE_DATASETS_DIR": str(DATASETS_DIR)}
    )
    wine = fetch_batch(config, date(2026, 1, 1)).batch
    from sklearn.datasets import load_wine

    assert wine.features.shape == (178, 13) and wine.feature_names == scikit_learn_names(load_wine)
    assert np.bincount(wine.labels).tolist() == [59, 71, 48]
    synthetic = fetch_batch(
        config.with_overrides({"source": "synthetic", "synthetic_rows": 3000}), date(2026, 1, 1)
    )
    assert synthetic.batch.features.shape == (3000, 13) and set(np.unique(synthetic.batch.labels)) == {
        0,
        1,
        2,
    }


def test_batch_refuses_misaligned_arrays():
    with pytest.raises(ValueError, match="do not line up"):
        Batch(np.zeros((3, 2)), np.zeros(4), ("a", "b"))
    with pytest.raises(ValueError, match="2 feature columns but 1 names"):
        Batch(np.zeros((3, 2)), np.zeros(3), ("a",))


def test_split_is_stratified_disjoint_and_reproducible(cancer):
    train, test = split_batch(cancer, test_fraction=0.2, seed=42)
    assert (len(train), len(test)) == (456, 113)
    assert np.bincount(test.labels).tolist() == [42, 71]  # 20 % of each class
    assert abs(test.labels.mean() - cancer.labels.mean()) < 0.01
    again_train, again_test = split_batch(cancer, test_fraction=0.2, seed=42)
    np.testing.assert_array_equal(train.features, again_train.features)
    np.testing.assert_array_equal(test.labels, again_test.labels)
    together = np.vstack([train.features, test.features])
    assert len(np.unique(together, axis=0)) == len(np.unique(cancer.features, axis=0))


def test_split_changes_with_the_seed(cancer):
    first, _ = split_batch(cancer, 0.2, seed=1)
    second, _ = split_batch(cancer, 0.2, seed=2)
    assert not np.array_equal(first.features, second.features)


def test_each_run_gets_its_own_model_name(config):
    day = date(2026, 3, 4)
    first = RunKey(day, "manual__2026-03-04T10:00:00+00:00")
    second = RunKey(day, "scheduled__2026-03-04T00:00:00+00:00")
    assert model_path(config, first) != model_path(config, second)
    assert model_path(config, first).parent == Path(config.models_dir) / "breast_cancer" / "2026-03-04"
    name = model_path(config, first).name
    assert name.startswith("model_2026-03-04_manual__2026-03-04T10_00_00") and name.endswith(".joblib")


def test_run_date_falls_back_to_run_after_without_a_logical_date():
    from datetime import datetime
    from types import SimpleNamespace

    run_after = datetime(2026, 5, 6, 23, 30, tzinfo=UTC)
    context = {"logical_date": None, "dag_run": SimpleNamespace(run_after=run_after), "run_id": "manual__x"}
    assert RunKey.from_context(context) == RunKey(date(2026, 5, 6), "manual__x")
    context["logical_date"] = datetime(2026, 5, 1, tzinfo=UTC)
    assert RunKey.from_context(context).run_date == date(2026, 5, 1)
