"""The model and its grid: StandardScaler -> PCA -> LogisticRegression, over PCA size x C."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_pipeline.basics.config import PipelineConfig

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

PCA_PARAM = "pca__n_components"
C_PARAM = "classifier__C"
MAX_ITER = 1000


def build_pipeline(n_components: int | None = None, C: float = 1.0) -> Pipeline:
    """The model: standardise, project on the first principal components, logistic regression."""
    # Imported here: the grid's helpers below serve tasks that need no scikit-learn (pick_best_model).
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline(
        [
            ("scaler", StandardScaler()),
            # The scaler hands PCA a fresh array, so PCA may work in it instead of copying it.
            ("pca", PCA(n_components=n_components, svd_solver="covariance_eigh", copy=False)),
            ("classifier", LogisticRegression(C=C, max_iter=MAX_ITER)),
        ]
    )


def param_grid(config: PipelineConfig, n_features: int) -> dict[str, list]:
    """The grid, in ``GridSearchCV``'s form."""
    return {PCA_PARAM: config.pca_sizes(n_features), C_PARAM: config.c_values()}


def candidates(grid: dict[str, list]) -> list[dict]:
    """Every combination, in ``sklearn.model_selection.ParameterGrid``'s order."""
    return [{C_PARAM: c, PCA_PARAM: k} for c in grid[C_PARAM] for k in grid[PCA_PARAM]]


def edge_notes(grid: dict[str, list], best_params: dict, max_pca_components: int | None) -> list[str]:
    """What the pick says of the grid: a winner on its edge may mean a better candidate lies past it.

    The PCA size counts as on the edge only when ``max_pca_components`` capped the sizes; a grid that
    already reaches every feature has nothing past it."""
    notes = []
    sizes, c_values = grid.get(PCA_PARAM) or [], grid.get(C_PARAM) or []
    size, c = best_params.get(PCA_PARAM), best_params.get(C_PARAM)
    if len(sizes) > 1 and size == max(sizes) == max_pca_components:
        notes.append(
            f"PCA {size} is the largest size searched: more components may score better; raise "
            f"max_pca_components (now {max_pca_components})"
        )
    if len(c_values) > 1 and c in (min(c_values), max(c_values)):
        end, setting = ("smallest", "c_min") if c == min(c_values) else ("largest", "c_max")
        notes.append(f"C {c:g} is the {end} value searched: move {setting} to search past it")
    return notes


def affine_form(pipeline: Pipeline, probe_rows: int = 256, tolerance: float = 1e-9):
    """The model's decision function as one affine map ``features @ weights + offset`` (scaler, PCA and
    classifier are each affine), and a function giving each class's probability from it; None unless it
    agrees with ``pipeline.predict_proba`` within ``tolerance`` on rows drawn around the training mean.

    One matrix product instead of three steps, each checking its input: scoring a request is then a
    matter of microseconds (the scoring service's path)."""
    import numpy as np
    from scipy.special import expit, softmax

    steps = getattr(pipeline, "named_steps", {})
    if set(steps) != {"scaler", "pca", "classifier"}:  # a model of another shape: scored as it is
        return None
    scaler, pca, classifier = steps["scaler"], steps["pca"], steps["classifier"]
    if pca.whiten or not (scaler.with_mean and scaler.with_std):
        return None
    # (X - mean) / scale, minus PCA's mean, times components' transpose, times coef's, plus intercept:
    to_decision = pca.components_.T @ classifier.coef_.T
    weights = to_decision / scaler.scale_[:, None]
    offset = classifier.intercept_ - (scaler.mean_ / scaler.scale_ + pca.mean_) @ to_decision

    def probabilities(decision: np.ndarray) -> np.ndarray:
        if decision.shape[1] == 1:
            positive = expit(decision[:, 0])
            return np.column_stack([1 - positive, positive])
        return softmax(decision, axis=1)

    probe = np.random.default_rng(0).normal(size=(probe_rows, len(scaler.mean_)))
    probe = probe * scaler.scale_ + scaler.mean_
    expected = pipeline.predict_proba(probe)
    if np.abs(probabilities(probe @ weights + offset) - expected).max() > tolerance:
        return None
    return weights, offset, probabilities
