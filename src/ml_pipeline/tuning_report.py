"""What the tuning step hands to the steps after it, through XCom (no scikit-learn needed to read it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
