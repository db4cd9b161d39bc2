"""The tuning step: the grid searched by cross-validation on the training split (``fast_cv``), then
the winner fitted on the whole training split and scored on the test split."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from scipy.special import softmax
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from ml_pipeline.batch import Batch
from ml_pipeline.config import PipelineConfig
from ml_pipeline.fast_cv import (
    SearchResult,
    apply_projection,
    cross_validate_grid,
    fit_projection,
    objective_for,
)
from ml_pipeline.model import C_PARAM, PCA_PARAM, param_grid
from ml_pipeline.tuning_report import TuningReport


def evaluate_on_test(train: Batch, test: Batch, params: dict) -> tuple[dict[str, float], np.ndarray]:
    """The candidate ``params`` fitted on the whole training split, scored on the test split.

    The model is ``build_pipeline(**params)`` fitted the way the cross-validation fits candidates, so
    this step holds no more than the two projections (``Pipeline.fit`` holds several full copies of
    the training rows at once). Returns the scores and the decision function on the test rows.
    """
    k, C = params[PCA_PARAM], params[C_PARAM]
    train_rows, test_rows = np.arange(len(train)), np.arange(len(test))
    projection = fit_projection(train.features, train_rows, k)
    projected_train = apply_projection(
        train.features, train_rows, projection, np.empty((len(train), k), order="F")
    )
    projected_test = apply_projection(
        test.features, test_rows, projection, np.empty((len(test), k), order="F")
    )
    classes = int(max(train.labels.max(), test.labels.max())) + 1
    objective = objective_for(projected_train, np.asarray(train.labels), classes)
    solution = objective.minimise(C, objective.widen(None))
    decision = objective.decision(projected_test, solution)
    return test_metrics(np.asarray(test.labels), decision), decision


def test_metrics(labels: np.ndarray, decision: np.ndarray) -> dict[str, float]:
    """Scores on held-out rows from a model's decision function: one column (positive means class
    1), or one per class for three classes or more (macro averages, one-vs-rest ROC AUC)."""
    if decision.ndim == 1:
        predicted, average, score = (decision > 0).astype(labels.dtype), "binary", decision
    else:
        predicted, average = decision.argmax(axis=1).astype(labels.dtype), "macro"
        score = softmax(decision, axis=1)
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, average=average, zero_division=0)),
        "recall": float(recall_score(labels, predicted, average=average, zero_division=0)),
        "f1": float(f1_score(labels, predicted, average=average, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, score, multi_class="ovr")),
    }


def tune(train: Batch, test: Batch, config: PipelineConfig) -> tuple[TuningReport, np.ndarray]:
    """Search the grid on the training split, then score the winner on the test split.

    Returns the report and the winner's decision function on the test rows (for the plots).
    """
    started_at = datetime.now(UTC)
    grid = param_grid(config, train.features.shape[1])
    search = cross_validate_grid(
        train, grid, config.cv_folds, config.random_seed, config.n_jobs, config.cv_chunks
    )
    return report_of(search, grid, train, test, config.cv_folds, started_at)


def report_of(
    search: SearchResult, grid: dict, train: Batch, test: Batch, folds: int, started_at: datetime
) -> tuple[TuningReport, np.ndarray]:
    """The search's report, with its winner fitted on the training split and scored on the test split;
    and the winner's decision function on the test rows."""
    best = search.best_params
    metrics, decision = evaluate_on_test(train, test, best)
    rows = [
        {
            "candidate": index,
            "params": params,
            "pca_n_components": params[PCA_PARAM],
            "c": params[C_PARAM],
            "mean_test_score": float(search.mean_scores[index]),
            "std_test_score": float(search.std_scores[index]),
            "rank_test_score": int(search.ranks[index]),
        }
        for index, params in enumerate(search.candidates)
    ]
    report = TuningReport(
        param_grid=grid,
        candidates=rows,
        best_params=best,
        cv_folds=folds,
        cv_mean_score=float(search.mean_scores[search.best_index]),
        cv_std_score=float(search.std_scores[search.best_index]),
        test_metrics=metrics,
        train_rows=len(train),
        test_rows=len(test),
        started_at=started_at.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
    )
    return report, decision


def reused_report(
    params: dict, champion_version: int, train: Batch, test: Batch, folds: int, started_at: datetime
) -> tuple[TuningReport, np.ndarray]:
    """The champion's parameters fitted on the training split and scored on the test split, without
    a search: the report of a run whose tuning reused them."""
    metrics, decision = evaluate_on_test(train, test, params)
    report = TuningReport(
        param_grid={name: [value] for name, value in params.items()},
        candidates=[],
        best_params=params,
        cv_folds=folds,  # as configured; no CV ran
        cv_mean_score=None,
        cv_std_score=None,
        test_metrics=metrics,
        train_rows=len(train),
        test_rows=len(test),
        started_at=started_at.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        tuning="reuse",
        params_from_version=champion_version,
    )
    return report, decision
