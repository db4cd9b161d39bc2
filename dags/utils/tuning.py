"""Cross-validated grid search over StandardScaler -> PCA -> LogisticRegression.

It scores exactly the candidates ``GridSearchCV(build_pipeline(), param_grid(...), cv=folds)`` would,
on the same stratified folds, but with far less work:

- PCA components are nested: the first k components of a PCA fitted at the largest size are those of
  a PCA fitted at size k. So each fold fits the scaler and PCA once and slices the projection to each k.
- Along the C path, each LogisticRegression starts from the previous C's solution (warm start), which
  converges in a few iterations; scores agree with cold starts to solver tolerance.
- Work is spread over worker processes as (fold, group of PCA sizes) jobs of similar cost, with one
  BLAS thread per worker so processes and threads don't fight over the cores.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import rankdata
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from utils.config import PipelineConfig
from utils.handoff import Batch

PCA_PARAM = "pca__n_components"
C_PARAM = "classifier__C"
MAX_ITER = 1000


def build_pipeline(n_components: int | None = None, C: float = 1.0) -> Pipeline:
    """The model: standardise, project on the first principal components, logistic regression."""
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            ("pca", PCA(n_components=n_components, svd_solver="covariance_eigh")),
            ("classifier", LogisticRegression(C=C, max_iter=MAX_ITER)),
        ]
    )


def param_grid(config: PipelineConfig, n_features: int) -> dict[str, list]:
    """The grid, in ``GridSearchCV``'s form."""
    return {PCA_PARAM: config.pca_sizes(n_features), C_PARAM: config.c_values()}


def candidates(grid: dict[str, list]) -> list[dict]:
    """Every combination, in ``sklearn.model_selection.ParameterGrid``'s order."""
    return [{C_PARAM: c, PCA_PARAM: k} for c in grid[C_PARAM] for k in grid[PCA_PARAM]]


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


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity and container limits)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cross_validate_grid(
    batch: Batch, grid: dict[str, list], folds: int, seed: int, n_jobs: int = 0
) -> SearchResult:
    """Mean and std accuracy over stratified folds for every candidate of ``grid``."""
    sizes, c_values = list(grid[PCA_PARAM]), list(grid[C_PARAM])
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold_rows = list(splitter.split(np.zeros(len(batch)), batch.labels))
    workers = min(n_jobs or available_cores(), folds * len(sizes))
    groups = _balanced_groups(sizes, max(1, -(-2 * workers // folds)))
    jobs = [
        (fold, group, delayed(_score_fold)(batch, train, test, group, c_values))
        for fold, (train, test) in enumerate(fold_rows)
        for group in groups
    ]
    if workers == 1:
        outputs = [function(*args, **kwargs) for _, _, (function, args, kwargs) in jobs]
    else:
        outputs = Parallel(n_jobs=workers)(job for _, _, job in jobs)

    # scores[fold, c, k], then flattened in candidate order (C outer, PCA size inner).
    scores = np.empty((folds, len(c_values), len(sizes)))
    position = {k: i for i, k in enumerate(sizes)}
    for (fold, group, _), output in zip(jobs, outputs, strict=True):
        for row, k in enumerate(group):
            scores[fold, :, position[k]] = output[row]
    per_candidate = scores.reshape(folds, -1)
    mean, std = per_candidate.mean(axis=0), per_candidate.std(axis=0)
    ranks = rankdata(-mean, method="min").astype(int)
    return SearchResult(candidates(grid), mean, std, ranks)


def _balanced_groups(sizes: list[int], count: int) -> list[list[int]]:
    """Split PCA sizes into ``count`` groups of similar total cost (fitting cost grows with k)."""
    groups: list[list[int]] = [[] for _ in range(min(count, len(sizes)))]
    for k in sorted(sizes, reverse=True):
        min(groups, key=sum).append(k)
    return [sorted(group) for group in groups]


def _score_fold(
    batch: Batch, train: np.ndarray, test: np.ndarray, sizes: list[int], c_values: list[float]
) -> np.ndarray:
    """Accuracy on one fold's held-out rows for each PCA size in ``sizes`` × each C."""
    with threadpool_limits(limits=1):
        scaler = StandardScaler().fit(batch.features[train])
        pca = PCA(n_components=max(sizes), svd_solver="covariance_eigh")
        projected_train = pca.fit_transform(scaler.transform(batch.features[train]))
        projected_test = pca.transform(scaler.transform(batch.features[test]))
        train_labels, test_labels = batch.labels[train], batch.labels[test]
        scores = np.empty((len(sizes), len(c_values)))
        for row, k in enumerate(sizes):
            classifier = LogisticRegression(max_iter=MAX_ITER, warm_start=True)
            for column in np.argsort(c_values):
                classifier.set_params(C=c_values[column])
                classifier.fit(projected_train[:, :k], train_labels)
                predicted = classifier.predict(projected_test[:, :k])
                scores[row, column] = np.mean(predicted == test_labels)
    return scores


def test_metrics(model: Pipeline, test: Batch) -> dict[str, float]:
    """Scores of a fitted model on the held-out split."""
    predicted = model.predict(test.features)
    probability = model.predict_proba(test.features)[:, 1]
    labels = test.labels
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probability)),
    }


@dataclass
class TuningReport:
    """Everything the save-results and refit steps need from the tuning step."""

    param_grid: dict
    candidates: list[dict]
    best_params: dict
    cv_folds: int
    cv_mean_score: float
    cv_std_score: float
    test_metrics: dict
    train_rows: int
    test_rows: int
    started_at: str
    finished_at: str

    def as_dict(self) -> dict:
        return asdict(self)


def tune(train: Batch, test: Batch, config: PipelineConfig) -> TuningReport:
    """Search the grid on the training split, then score the winner on the test split."""
    started_at = datetime.now(UTC)
    grid = param_grid(config, train.features.shape[1])
    search = cross_validate_grid(train, grid, config.cv_folds, config.random_seed, config.n_jobs)
    best = search.best_params
    model = build_pipeline(best[PCA_PARAM], best[C_PARAM]).fit(train.features, train.labels)
    metrics = test_metrics(model, test)
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
    return TuningReport(
        param_grid=grid,
        candidates=rows,
        best_params=best,
        cv_folds=config.cv_folds,
        cv_mean_score=float(search.mean_scores[search.best_index]),
        cv_std_score=float(search.std_scores[search.best_index]),
        test_metrics=metrics,
        train_rows=len(train),
        test_rows=len(test),
        started_at=started_at.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
    )
