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
