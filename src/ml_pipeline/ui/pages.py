"""The views' pages: what the queries found, turned into the figures and charts a template shows."""

from __future__ import annotations

from datetime import date
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from ml_pipeline.training.model import C_PARAM, PCA_PARAM, edge_notes
from ml_pipeline.ui import charts

STATUS_WORDS = {
    "champion": "champion: live, scoring",
    "challenger": "challenger: kept, not live",
    "archived": "archived: a former champion",
}


@cache
def templates() -> Environment:
    return Environment(loader=PackageLoader("ml_pipeline.ui"), autoescape=select_autoescape(["html"]))


def render(template: str, **context) -> str:
    return templates().get_template(template).render(status_words=STATUS_WORDS, **context)


def experiment(view: dict) -> dict:
    """The Experiment tab's figures: the winner among the candidates, and the charts."""
    run, candidates = view["run"], view["candidates"]
    best = run["best_params"] or {}
    winner = next(
        (
            row
            for row in candidates
            if (row["pca_n_components"], row["c"]) == (best.get(PCA_PARAM), best.get(C_PARAM))
        ),
        None,
    )
    pictures = {}
    if candidates:
        pictures["heatmap"] = charts.data_uri(candidate_heatmap(run, candidates))
    curves = run["test_curves"]
    if curves:
        pictures["roc"] = charts.data_uri(
            charts.lines(
                [(f"{c['name']} (AUC {c['auc']:.3f})", c["fpr"], c["tpr"]) for c in curves["roc"]],
                "False positive rate",
                "True positive rate",
                diagonal=True,
            )  # fmt: skip
        )
        labels = run["classes"] or [str(k) for k in range(len(curves["confusion"]))]
        pictures["confusion"] = charts.data_uri(charts.matrix(curves["confusion"], labels))
    features = [row for row in view["drift"] if row["kind"] == "feature"]
    if features:
        pictures["drift"] = charts.data_uri(
            charts.bars([r["name"] for r in features], [r["psi"] for r in features], features[0]["threshold"])
        )
    edges = edge_notes(run["param_grid"], best, run["max_pca_components"]) if candidates else []
    return {
        "winner": winner,
        "edges": edges,
        "pictures": pictures,
        "drifted": [row["name"] for row in view["drift"] if row["drifted"]],
    }


def candidate_heatmap(run: dict, candidates: list[dict]) -> str:
    grid = run["param_grid"] or {}
    sizes = grid.get(PCA_PARAM) or sorted({row["pca_n_components"] for row in candidates})
    c_values = grid.get(C_PARAM) or sorted({row["c"] for row in candidates})
    scores = {(row["pca_n_components"], row["c"]): row["mean_test_score"] for row in candidates}
    best = run["best_params"] or {}
    marked = (best.get(PCA_PARAM), best.get(C_PARAM))
    return charts.heatmap(sizes, c_values, scores, marked, "PCA components", "C (LogisticRegression)")


def models(view: dict) -> dict:
    """The Models page's figures for one dataset: the chart of each day's test scores."""
    daily = view["daily"]
    if not daily:
        return {"scores_chart": None}
    days = [row["run_date"].toordinal() for row in daily]
    series = [
        (name, days, [row[column] for row in daily])
        for name, column in (("accuracy", "test_accuracy"), ("ROC AUC", "test_roc_auc"), ("F1", "test_f1"))
    ]
    low = min(min(values) for _, _, values in series)
    floor = max(0.0, min(0.9, round(low - 0.05, 1)))
    shown = sorted(set(days[:: max(1, len(days) // 5)]) | {days[-1]})
    labels = {day: date.fromordinal(day).isoformat() for day in shown}
    chart = charts.lines(series, "run date", "test score", y_range=(floor, 1.0), x_labels=labels)
    return {"scores_chart": charts.data_uri(chart)}
