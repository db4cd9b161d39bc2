"""Pictures of a run's search and of its winner on the test split, saved next to its model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml_pipeline.basics.files import atomic_writer
from ml_pipeline.training.model import C_PARAM, PCA_PARAM
from ml_pipeline.training.tuning_report import TuningReport

ROC_POINTS = 400


def held_out_curves(labels: np.ndarray, decision: np.ndarray, classes: tuple) -> dict:
    """What the ROC and confusion plots draw of the winner on the test split, small enough for XCom
    whatever the split's size: each ROC curve thinned to at most ROC_POINTS points (its AUC from all
    of them), and the confusion matrix. ``labels`` holds the classes' indices."""
    from sklearn.metrics import auc, confusion_matrix, roc_curve

    if decision.ndim == 1:
        scored, predicted = [("best model", labels == 1, decision)], (decision > 0).astype(int)
    else:  # one curve per class, that class against the others
        scored = [(f"class {classes[c]}", labels == c, decision[:, c]) for c in range(decision.shape[1])]
        predicted = decision.argmax(axis=1)
    curves = []
    for name, positive, score in scored:
        fpr, tpr, _ = roc_curve(positive, score)
        kept = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), ROC_POINTS)).round().astype(int))
        curves.append(
            {"name": name, "fpr": fpr[kept].tolist(), "tpr": tpr[kept].tolist(), "auc": float(auc(fpr, tpr))}
        )
    confusion = confusion_matrix(labels, predicted, labels=list(range(len(classes))))
    return {"rows": len(labels), "roc": curves, "confusion": confusion.tolist()}


def plot_experiment(report: TuningReport, curves: dict, model_path: Path, classes: tuple) -> list[Path]:
    """Mean CV accuracy over PCA size x C (heatmap), ROC curve and confusion matrix (from
    ``held_out_curves``), as PNG files named after the model (``<model>.cv_heatmap.png``,
    ``<model>.roc.png``, ``<model>.confusion.png``), with the class labels as declared.

    Drawn with Matplotlib alone, as scikit-learn's RocCurveDisplay and ConfusionMatrixDisplay draw
    them: the figures are all in ``curves``, and importing ``sklearn.metrics`` would double the task's
    time."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    stem = model_path.with_suffix("")
    figures = [(_cv_heatmap(report, plt), "cv_heatmap")] if report.candidates else []
    figures += [(_roc(curves, plt), "roc"), (_confusion(report, curves, classes, plt), "confusion")]
    written = []
    for figure, name in figures:
        path = stem.with_name(f"{stem.name}.{name}.png")
        figure.tight_layout()
        with atomic_writer(path) as stream:
            figure.savefig(stream, format="png", dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def _roc(curves: dict, plt):
    figure, axes = plt.subplots(figsize=(5, 5))
    for curve in curves["roc"]:
        axes.plot(curve["fpr"], curve["tpr"], label=f"{curve['name']} (AUC = {curve['auc']:.3f})")
    axes.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    axes.set(
        xlabel="False positive rate",
        ylabel="True positive rate",
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.01),
        aspect="equal",
    )
    axes.legend(loc="lower right")
    axes.set_title(f"ROC on the test split ({curves['rows']} rows)")
    return figure


def _confusion(report: TuningReport, curves: dict, classes: tuple, plt):
    matrix = np.array(curves["confusion"])
    size = max(4.5, 1.2 * len(classes))
    figure, axes = plt.subplots(figsize=(size + 0.5, size))
    axes.imshow(matrix, cmap="viridis")
    labels = [str(c) for c in classes]
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set(xlabel="Predicted label", ylabel="True label")
    middle = (matrix.max() + matrix.min()) / 2
    for (row, column), count in np.ndenumerate(matrix):
        # Dark text on the bright cells, light on the dark ones.
        axes.text(
            column, row, f"{count:,}", ha="center", va="center", color="black" if count > middle else "white"
        )
    axes.set_title(f"Test split: accuracy {report.test_metrics['accuracy']:.4f}")
    return figure


def _cv_heatmap(report: TuningReport, plt):
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
    return heatmap
