"""The fast cross-validation must score what GridSearchCV scores."""

from datetime import UTC, datetime

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.training.fast_cv import (
    FIT_COST_OFFSET,
    _contiguous_ranges,
    cross_validate_grid,
    gather_scores,
    grid_chunks,
    score_units,
    size_chains,
    unit_cost,
)
from ml_pipeline.training.folds import fit_projection, fit_projections, fold_rows
from ml_pipeline.training.model import C_PARAM, PCA_PARAM, build_pipeline, candidates, param_grid
from ml_pipeline.training.split import split_batch
from ml_pipeline.training.tuning import evaluate_on_test, tune


def grid_search(batch, grid, folds, seed):
    search = GridSearchCV(
        build_pipeline(),
        grid,
        cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed),
        n_jobs=1,
    )
    return search.fit(batch.features, batch.labels)


AGREEMENT = PipelineConfig(max_pca_components=8, c_count=4, cv_folds=4)


@pytest.fixture(scope="module")
def reference(small_synthetic):
    """GridSearchCV over the agreement grid, fitted once for every n_jobs compared with it."""
    grid = param_grid(AGREEMENT, small_synthetic.features.shape[1])
    return grid_search(small_synthetic, grid, AGREEMENT.cv_folds, seed=5)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_fast_cv_agrees_with_grid_search(small_synthetic, reference, n_jobs):
    grid = param_grid(AGREEMENT, small_synthetic.features.shape[1])
    ours = cross_validate_grid(small_synthetic, grid, AGREEMENT.cv_folds, seed=5, n_jobs=n_jobs)

    assert [dict(p) for p in reference.cv_results_["params"]] == ours.candidates
    np.testing.assert_allclose(ours.mean_scores, reference.cv_results_["mean_test_score"], atol=1e-3)
    picked = reference.cv_results_["mean_test_score"][ours.best_index]
    assert picked >= reference.best_score_ - 1e-3


def test_a_grid_that_reaches_every_feature_agrees_with_grid_search(small_synthetic):
    from ml_pipeline.basics.batch import Batch

    five = Batch(small_synthetic.features[:, :5], small_synthetic.labels, small_synthetic.feature_names[:5])
    grid = param_grid(PipelineConfig(c_count=3), 5)
    assert grid[PCA_PARAM] == [1, 2, 3, 4, 5]  # 5: no reduction, the model may use every feature
    ours = cross_validate_grid(five, grid, 4, seed=5, n_jobs=1)
    reference = grid_search(five, grid, 4, seed=5)
    # Both solvers stop at the same tolerance: at most one borderline held-out row may go the other way.
    one_row = 1 / len(five) + 1e-12
    np.testing.assert_allclose(ours.mean_scores, reference.cv_results_["mean_test_score"], atol=one_row)


def test_candidates_follow_parameter_grid_order():
    grid = {PCA_PARAM: [1, 2], C_PARAM: [0.1, 1.0]}
    assert candidates(grid) == [
        {C_PARAM: 0.1, PCA_PARAM: 1},
        {C_PARAM: 0.1, PCA_PARAM: 2},
        {C_PARAM: 1.0, PCA_PARAM: 1},
        {C_PARAM: 1.0, PCA_PARAM: 2},
    ]


def test_ranges_cover_every_size_once_in_runs_of_similar_cost():
    for count in (1, 2, 3, 5):
        ranges = _contiguous_ranges(list(range(1, 30)), count)
        assert len(ranges) == count
        assert [k for part in ranges for k in part] == list(range(1, 30))
        costs = [sum(k + FIT_COST_OFFSET for k in part) for part in ranges]
        assert max(costs) - min(costs) <= 2 * (29 + FIT_COST_OFFSET)
    assert _contiguous_ranges([1, 2], 4) == [[1], [2]]


def test_tune_reports_the_winner_and_its_test_scores(cancer):
    config = PipelineConfig(max_pca_components=10, c_count=3, cv_folds=3)
    train, test = split_batch(cancer, config.test_fraction, config.random_seed)
    before = datetime.now(UTC)
    report, decision = tune(train, test, config)
    after = datetime.now(UTC)
    assert decision.shape == (len(test),)
    assert len(report.candidates) == 10 * 3
    assert report.best_params in [row["params"] for row in report.candidates if row["rank_test_score"] == 1]
    assert report.cv_mean_score > 0.9
    assert set(report.test_metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert report.test_metrics["accuracy"] > 0.9 and report.test_metrics["roc_auc"] > 0.95
    assert (report.train_rows, report.test_rows) == (len(train), len(test))
    started, finished = map(datetime.fromisoformat, (report.started_at, report.finished_at))
    assert before <= started <= finished <= after, "the times of this tuning"


def test_test_scores_are_those_of_the_scikit_learn_pipeline(cancer):
    train, test = split_batch(cancer, 0.2, seed=42)
    ours, _ = evaluate_on_test(train, test, {C_PARAM: 0.1, PCA_PARAM: 9})
    model = build_pipeline(9, 0.1).fit(train.features, train.labels)
    assert ours["accuracy"] == pytest.approx(model.score(test.features, test.labels), abs=1 / len(test))
    auc = roc_auc_score(test.labels, model.decision_function(test.features))
    assert ours["roc_auc"] == pytest.approx(auc, abs=1e-3)


def test_fast_cv_agrees_with_grid_search_on_three_classes():
    from sklearn.datasets import make_classification

    from ml_pipeline.basics.batch import Batch

    features, labels = make_classification(
        n_samples=3000, n_features=13, n_informative=6, n_classes=3, n_clusters_per_class=1, random_state=4
    )
    batch = Batch(features, labels.astype(np.int8), tuple(f"x{i}" for i in range(13)))
    config = PipelineConfig(max_pca_components=12, c_count=4, cv_folds=4)
    grid = param_grid(config, 13)
    ours = cross_validate_grid(batch, grid, config.cv_folds, seed=5, n_jobs=2)
    reference = grid_search(batch, grid, config.cv_folds, seed=5)
    np.testing.assert_allclose(ours.mean_scores, reference.cv_results_["mean_test_score"], atol=1e-3)
    assert reference.cv_results_["mean_test_score"][ours.best_index] >= reference.best_score_ - 1e-3

    train, test = split_batch(batch, 0.2, 5)
    metrics, decision = evaluate_on_test(train, test, ours.best_params)
    assert decision.shape == (len(test), 3)
    assert metrics["accuracy"] > 0.7 and 0.5 < metrics["roc_auc"] <= 1  # macro scores, one-vs-rest AUC


def test_the_grid_divides_into_chunks_of_whole_units_of_similar_cost():
    sizes, folds = list(range(1, 30)), 5
    units = [(fold, chain) for fold in range(folds) for chain in size_chains(sizes)]
    for count in (1, 2, 4, 8, 16, 200):
        parts = grid_chunks(sizes, folds, count)
        assert [unit for part in parts for unit in part] == units  # each unit once, fold by fold
        assert len(parts) == min(count, len(units))
        costs = [sum(unit_cost(unit) for unit in part) for part in parts]
        # No chunk costs more than an equal share plus one unit: more workers keep paying off.
        assert max(costs) <= sum(costs) / len(parts) + max(unit_cost(unit) for unit in units)
    assert grid_chunks([3, 1, 2], 2, 2) == [[(0, [1, 2, 3])], [(1, [1, 2, 3])]]


def test_each_fold_s_projection_is_the_scaler_and_pca_fitted_on_its_training_rows(small_synthetic):
    rows = fold_rows(small_synthetic.labels, np.arange(len(small_synthetic)), 4, seed=3)
    projections = fit_projections(small_synthetic.features, rows, 5)
    for fold, (train, _) in enumerate(rows):
        mean, scale, axes = fit_projection(small_synthetic.features, train, 5)
        model = build_pipeline(5).fit(small_synthetic.features[train], small_synthetic.labels[train])
        np.testing.assert_allclose(projections.means[fold], model.named_steps["scaler"].mean_, atol=1e-12)
        np.testing.assert_allclose(projections.scales[fold], model.named_steps["scaler"].scale_, rtol=1e-10)
        np.testing.assert_allclose(mean, projections.means[fold], atol=1e-12)
        # The same axes as scikit-learn's PCA, up to each axis's sign.
        cosines = np.abs(np.sum(projections.axes[fold] * model.named_steps["pca"].components_.T, axis=0))
        np.testing.assert_allclose(cosines, 1, atol=1e-8)
        np.testing.assert_allclose(np.abs(axes), np.abs(projections.axes[fold]), atol=1e-8)


def _scored(batch, parts, c_values, folds=3, seed=1, n_jobs=0):
    rows = fold_rows(batch.labels, np.arange(len(batch)), folds, seed)
    projections = fit_projections(batch.features, rows, max(k for part in parts for _, c in part for k in c))
    return [
        score_units(batch.features, batch.labels, rows, projections, part, c_values, n_jobs) for part in parts
    ]


def test_a_chunk_scores_the_same_bits_on_any_worker(small_synthetic):
    c_values = PipelineConfig(c_count=4).c_values()
    parts = grid_chunks([1, 2, 3, 4, 5, 6], 3, 2)
    one_core = _scored(small_synthetic, parts, c_values, n_jobs=1)
    two_cores = _scored(small_synthetic, parts, c_values, n_jobs=2)
    assert [len(table) for part in one_core for table in part] == [4] * sum(map(len, parts))
    assert one_core == two_cores


def test_chunked_cv_gives_the_bits_of_one_task_and_the_same_pick(small_synthetic):
    config = PipelineConfig(max_pca_components=12, c_count=4, cv_folds=3)
    grid = param_grid(config, small_synthetic.features.shape[1])
    whole = cross_validate_grid(small_synthetic, grid, config.cv_folds, seed=2)
    for chunks in (2, 3, 7):
        chunked = cross_validate_grid(small_synthetic, grid, config.cv_folds, seed=2, chunks=chunks)
        np.testing.assert_array_equal(chunked.mean_scores, whole.mean_scores)
        assert chunked.best_params == whole.best_params and chunked.candidates == whole.candidates
    # Gathering chunks that come back in any order gives the same ranking.
    parts = grid_chunks(grid[PCA_PARAM], config.cv_folds, 3)
    tables = _scored(small_synthetic, parts, grid[C_PARAM], seed=2)
    units = [unit for part in parts[::-1] for unit in part]
    shuffled = gather_scores(grid, config.cv_folds, units, [t for part in tables[::-1] for t in part])
    np.testing.assert_array_equal(shuffled.mean_scores, whole.mean_scores)
    with pytest.raises(ValueError, match="do not cover every fold"):
        gather_scores(grid, config.cv_folds, units[1:], [t for part in tables[::-1] for t in part][1:])


def test_a_pick_on_the_grid_s_edge_is_said_with_the_setting_to_change():
    from ml_pipeline.training.model import C_PARAM, PCA_PARAM, edge_notes

    grid = {PCA_PARAM: list(range(1, 30)), C_PARAM: [0.001, 0.1, 10.0, 1000.0]}
    assert edge_notes(grid, {PCA_PARAM: 13, C_PARAM: 0.1}, 29) == []
    assert edge_notes(grid, {PCA_PARAM: 29, C_PARAM: 0.1}, 29) == [
        "PCA 29 is the largest size searched: more components may score better; "
        "raise max_pca_components (now 29)"
    ]
    # Capped by the features (30 of them, so 29 at most), not by the setting: nothing lies past it.
    assert edge_notes(grid, {PCA_PARAM: 29, C_PARAM: 0.1}, 40) == []
    assert edge_notes(grid, {PCA_PARAM: 13, C_PARAM: 0.001}, 29) == [
        "C 0.001 is the smallest value searched: move c_min to search past it"
    ]
    assert edge_notes(grid, {PCA_PARAM: 13, C_PARAM: 1000.0}, 29)[0].endswith("move c_max to search past it")
    assert edge_notes({PCA_PARAM: [1], C_PARAM: [1.0]}, {PCA_PARAM: 1, C_PARAM: 1.0}, 1) == []
