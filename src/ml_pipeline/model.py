"""The model and its grid: StandardScaler -> PCA -> LogisticRegression, over PCA size x C."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_pipeline.config import PipelineConfig

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
