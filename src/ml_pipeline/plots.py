"""Pictures of a run's search and of its winner on the test split, saved next to its model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml_pipeline.files import atomic_writer
from ml_pipeline.model import C_PARAM, PCA_PARAM
from ml_pipeline.tuning_report import TuningReport


def plot_experiment(
    report: TuningReport, labels: np.ndarray, decision: np.ndarray, model_path: Path, classes: tuple
) -> list[Path]:
    """Mean CV accuracy over PCA size x C (heatmap), ROC curve and confusion matrix, as PNG files
    named after the model (``<model>.cv_heatmap.png``, ``<model>.roc.png``, ``<model>.confusion.png``),
    with the class labels as declared (``labels`` holds their indices)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    stem = model_path.with_suffix("")
    sizes, c_values = report.param_grid[PCA_PARAM], report.param_grid[C_PARAM]
    scores = np.full((len(sizes), len(c_values)), np.nan)
    for row in report.candidates:
        scores[sizes.index(row["pca_n_components"]), c_values.index(row["c"])] = row["mean_test_score"]
    best = report.best_params

    heatmap, axes = plt.subplots(figsize=(6, 7))
    image = axes.imshow(scores, aspect="auto", origin="lower", cmap="viridis")
    axes.set_xticks(range(len(c_values)), [f"{c:g}" for c in c_values], rotation=45)
    axes.set_yticks(range(len(sizes)), sizes)
    axes.plot(c_values.index(best[C_PARAM]), sizes.index(best[PCA_PARAM]), "r*", markersize=14)
    axes.set(xlabel="C (LogisticRegression)", ylabel="PCA components")
    axes.set_title(f"Mean CV accuracy, {report.cv_folds} folds (best {report.cv_mean_score:.4f}: red star)")
    heatmap.colorbar(image, ax=axes, label="mean accuracy")

    roc, axes = plt.subplots(figsize=(5, 5))
    if decision.ndim == 1:
        RocCurveDisplay.from_predictions(labels, decision, ax=axes, name="best model")
        predicted = (decision > 0).astype(int)
    else:  # one curve per class, that class against the others
        for label in range(decision.shape[1]):
            RocCurveDisplay.from_predictions(
                labels == label, decision[:, label], ax=axes, name=f"class {classes[label]}"
            )
        predicted = decision.argmax(axis=1)
    axes.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    axes.set_title(f"ROC on the test split ({len(labels)} rows)")

    size = max(4.5, 1.2 * len(classes))
    confusion, axes = plt.subplots(figsize=(size + 0.5, size))
    ConfusionMatrixDisplay.from_predictions(
        labels, predicted, labels=list(range(len(classes))), display_labels=[str(c) for c in classes],
        ax=axes, colorbar=False,
    )  # fmt: skip
    axes.set_title(f"Test split: accuracy {report.test_metrics['accuracy']:.4f}")

    written = []
    for figure, name in ((heatmap, "cv_heatmap"), (roc, "roc"), (confusion, "confusion")):
        path = stem.with_name(f"{stem.name}.{name}.png")
        figure.tight_layout()
        with atomic_writer(path) as stream:
            figure.savefig(stream, format="png", dpi=110)
        plt.close(figure)
        written.append(path)
    return written
