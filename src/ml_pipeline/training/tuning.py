"""The tuning step: the grid searched by cross-validation on the training split (``fast_cv``), or
the champion's parameters reused; then the pick fitted on the whole training split and scored on
the test split."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from scipy.special import softmax
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from ml_pipeline.basics.batch import Batch
from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.training.fast_cv import cross_validate_grid
from ml_pipeline.training.folds import apply_projection, fit_projection
from ml_pipeline.training.model import C_PARAM, PCA_PARAM, param_grid
from ml_pipeline.training.objectives import objective_for
from ml_pipeline.training.tuning_report import TuningReport, grid_pick


def evaluate_on_test(
    train: Batch, test: Batch, params: dict, train_rows: np.ndarray | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """The candidate ``params`` fitted on the training split (``train_rows`` of ``train``, every row by
    default: a window need not be copied to split it), scored on the test split.

    The model is ``build_pipeline(**params)`` fitted the way the cross-validation fits candidates, so
    this step holds no more than the two projections (``Pipeline.fit`` holds several full copies of
    the training rows at once). Returns the scores and the decision function on the test rows.
    """
    k, C = params[PCA_PARAM], params[C_PARAM]
    train_rows = np.arange(len(train)) if train_rows is None else train_rows
    test_rows = np.arange(len(test))
    projection = fit_projection(train.features, train_rows, k)
    projected_train = apply_projection(
        train.features, train_rows, projection, np.empty((len(train_rows), k), order="F")
    )
    projected_test = apply_projection(
        test.features, test_rows, projection, np.empty((len(test), k), order="F")
    )
    classes = int(max(train.labels.max(), test.labels.max())) + 1
    objective = objective_for(projected_train, np.asarray(train.labels)[train_rows], classes)
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
    return test_pick(grid_pick(search, grid, config.cv_folds, started_at), train, test)


def test_pick(
    pick: dict, train: Batch, test: Batch, train_rows: np.ndarray | None = None
) -> tuple[TuningReport, np.ndarray]:
    """The picked parameters fitted on the training split (``train_rows`` of ``train``, else all of it)
    and scored on the test split: the whole report, and the decision function on the test rows."""
    metrics, decision = evaluate_on_test(train, test, pick["best_params"], train_rows)
    report = TuningReport(
        **pick,
        test_metrics=metrics,
        train_rows=len(train) if train_rows is None else len(train_rows),
        test_rows=len(test),
        finished_at=datetime.now(UTC).isoformat(),
    )
    return report, decision
