"""What the tuning step hands to the steps after it, through XCom (no scikit-learn needed to read it):
the pick (the parameters to train, and the CV scores that chose them), and once the pick is scored
on the test split, the whole report."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ml_pipeline.training.model import C_PARAM, PCA_PARAM

if TYPE_CHECKING:
    from ml_pipeline.training.fast_cv import SearchResult


@dataclass
class TuningReport:
    """Everything the save-results and refit steps need from the tuning step."""

    param_grid: dict
    candidates: list[dict]
    best_params: dict
    cv_folds: int
    cv_mean_score: float | None  # None when the champion's parameters were reused, without CV
    cv_std_score: float | None
    test_metrics: dict
    train_rows: int
    test_rows: int
    started_at: str
    finished_at: str
    tuning: str = "grid"  # or "reuse"
    params_from_version: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def grid_pick(search: SearchResult, grid: dict, folds: int, started_at: datetime) -> dict:
    """The search's winner and every candidate's CV scores: the report, but for the test split."""
    return {
        "param_grid": grid,
        "candidates": [
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
        ],
        "best_params": search.best_params,
        "cv_folds": folds,
        "cv_mean_score": float(search.mean_scores[search.best_index]),
        "cv_std_score": float(search.std_scores[search.best_index]),
        "started_at": started_at.isoformat(),
        "tuning": "grid",
    }


def reused_pick(params: dict, champion_version: int, folds: int, started_at: datetime) -> dict:
    """The champion's parameters, picked without a search: the report of a run whose tuning reused
    them, but for the test split."""
    return {
        "param_grid": {name: [value] for name, value in params.items()},
        "candidates": [],
        "best_params": params,
        "cv_folds": folds,  # as configured; no CV ran
        "cv_mean_score": None,
        "cv_std_score": None,
        "started_at": started_at.isoformat(),
        "tuning": "reuse",
        "params_from_version": champion_version,
    }
