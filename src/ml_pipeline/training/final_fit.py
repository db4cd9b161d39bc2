"""The final model fitted a block of rows at a time: ``build_pipeline(k, C).fit(X, y)``, holding the rows
once and their projection once.

``Pipeline.fit`` holds the rows, their standardised copy and their projection at once (and PCA's
centred copy with some solvers). Here the scaler learns from blocks (``StandardScaler.partial_fit``),
PCA's ``covariance_eigh`` solver gets its covariance from blocks of standardised rows (it needs nothing
else: its attributes are set as it sets them), and LogisticRegression is fitted, as in the pipeline,
on the projected rows, built a block at a time. The rows are read by slices of rows, never written:
a matrix, or the window's hand-off files (``WindowFiles``).
"""

from __future__ import annotations

import numpy as np

from ml_pipeline.training.model import build_pipeline

BLOCK_ROWS = 16384


def fit_in_blocks(features, labels: np.ndarray, n_components: int, C: float):
    """``build_pipeline(n_components, C)`` fitted on ``features`` (a matrix, or ``WindowFiles``) and
    ``labels``, which stay untouched."""
    from sklearn.utils.extmath import svd_flip

    model = build_pipeline(n_components, C)
    scaler, pca, classifier = (model.named_steps[name] for name in ("scaler", "pca", "classifier"))
    rows, width = features.shape
    blocks = [slice(first, first + BLOCK_ROWS) for first in range(0, rows, BLOCK_ROWS)]
    for block in blocks:
        scaler.partial_fit(features[block])
    total, product = np.zeros(width), np.zeros((width, width))
    for block in blocks:
        standardised = scaler.transform(features[block])
        total += standardised.sum(axis=0)
        product += standardised.T @ standardised
    mean = total / rows
    covariance = (product - rows * np.outer(mean, mean)) / (rows - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues[::-1].copy(), eigenvectors[:, ::-1]
    eigenvalues[eigenvalues < 0.0] = 0.0
    _, axes = svd_flip(None, eigenvectors.T.copy(), u_based_decision=False)
    _set_pca(pca, mean, eigenvalues, axes, rows, n_components)
    projected = np.empty((rows, n_components))
    for block in blocks:
        projected[block] = pca.transform(scaler.transform(features[block]))
    classifier.fit(projected, labels)
    return model


def _set_pca(pca, mean: np.ndarray, variances: np.ndarray, axes: np.ndarray, rows: int, kept: int) -> None:
    """The attributes ``PCA(svd_solver="covariance_eigh").fit`` sets, from the covariance's eigenpairs."""
    pca._fit_svd_solver = "covariance_eigh"
    pca.n_features_in_ = len(mean)
    pca.mean_ = mean
    pca.n_samples_, pca.n_components_ = rows, kept
    pca.noise_variance_ = float(variances[kept:].mean()) if kept < min(len(mean), rows) else 0.0
    pca.components_ = axes[:kept].copy()
    pca.explained_variance_ = variances[:kept].copy()
    pca.explained_variance_ratio_ = variances[:kept] / variances.sum()
    pca.singular_values_ = np.sqrt(variances[:kept] * (rows - 1))
