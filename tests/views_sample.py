"""A pipeline database's worth of runs for the views' tests: a grid whose winner is known beforehand,
its curves, and a name that markup would break."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ElementTree
from datetime import date
from pathlib import Path

from ml_pipeline.registry.experiments import RunRecord, save_experiment
from ml_pipeline.registry.promotion import register_model
from ml_pipeline.training.tuning_report import TuningReport

DAY = date(2026, 11, 30)
HOSTILE = '<img src=x onerror="alert(1)">&'  # a name the data chose, never markup on the page
# A grid of 3 PCA sizes x 2 C values whose winner (4 components, C 1) is known beforehand.
SCORES = {(2, 0.1): 0.90, (2, 1.0): 0.92, (4, 0.1): 0.94, (4, 1.0): 0.965, (8, 0.1): 0.95, (8, 1.0): 0.93}
CURVES = {
    "rows": 114,
    "roc": [{"name": "best model", "fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.9, 1.0], "auc": 0.955}],
    "confusion": [[40, 3], [2, 69]],
}


def report(accuracy: float) -> TuningReport:
    ranked = sorted(SCORES, key=SCORES.get, reverse=True)
    candidates = [
        {
            "candidate": index,
            "params": {"pca__n_components": pca, "classifier__C": c},
            "pca_n_components": pca, "c": c, "mean_test_score": SCORES[pca, c],
            "std_test_score": 0.01, "rank_test_score": ranked.index((pca, c)) + 1,
        }
        for index, (pca, c) in enumerate(SCORES)
    ]  # fmt: skip
    return TuningReport(
        param_grid={"pca__n_components": [2, 4, 8], "classifier__C": [0.1, 1.0]},
        candidates=candidates,
        best_params={"pca__n_components": 4, "classifier__C": 1.0},
        cv_folds=5, cv_mean_score=0.965, cv_std_score=0.01,
        test_metrics={"accuracy": accuracy, "precision": 0.95, "recall": 0.97, "f1": 0.96, "roc_auc": 0.955},
        train_rows=455, test_rows=114, started_at="2026-11-30T00:00:00+00:00",
        finished_at="2026-11-30T00:00:05+00:00",
    )  # fmt: skip


def add_run(db, dataset: str, run_id: str, accuracy: float) -> int:
    save_experiment(db, RunRecord(run_id, dataset, DAY, "sklearn", "ab" * 32, {}), report(accuracy), CURVES)
    return register_model(db, dataset, run_id, Path(f"{dataset}/{run_id}.joblib"), "f" * 64, ("0", "1"))


def pictures(html: str) -> dict[str, ElementTree.Element]:
    """Each <img> of the page by id, its SVG parsed (a picture that does not parse would not load)."""
    found = {}
    for image_id, encoded in re.findall(
        r'<img (?:id|class)="([\w-]+)"[^>]*src="data:image/svg\+xml;base64,([^"]+)"', html
    ):
        found[image_id] = ElementTree.fromstring(base64.b64decode(encoded))
    return found
