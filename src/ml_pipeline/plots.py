"""Pictures of a run's search and of its winner on the test split, saved next to its model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml_pipeline.files import atomic_writer
from ml_pipeline.model import C_PARAM, PCA_PARAM
from ml_pipeline.tuning_report import TuningReport

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
    ``<model>.roc.png``, ``<model>.confusion.png``), with the class labels as declared."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay

    stem = model_path.with_suffix("")
    figures = [(_cv_heatmap(report, plt), "cv_heatmap")] if report.candidates else []

    roc, axes = plt.subplots(figsize=(5, 5))
    for curve in curves["roc"]:
        RocCurveDisplay(fpr=np.array(curve["fpr"]), tpr=np.array(curve["tpr"]), roc_auc=curve["auc"]).plot(
            ax=axes, name=curve["name"]
        )
    axes.plot([0, 1], [0, 1], "k--", linewidth=0.8)
    axes.set_title(f"ROC on the test split ({curves['rows']} rows)")

    size = max(4.5, 1.2 * len(classes))
    confusion, axes = plt.subplots(figsize=(size + 0.5, size))
    ConfusionMatrixDisplay(np.array(curves["confusion"]), display_labels=[str(c) for c in classes]).plot(
        ax=axes, colorbar=False
    )
    axes.set_title(f"Test split: accuracy {report.test_metrics['accuracy']:.4f}")

    written = []
    for figure, name in (*figures, (roc, "roc"), (confusion, "confusion")):
        path = stem.with_name(f"{stem.name}.{name}.png")
        figure.tight_layout()
        with atomic_writer(path) as stream:
            figure.savefig(stream, format="png", dpi=110)
        plt.close(figure)
        written.append(path)
    return written


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
