"""What the views read from the pipeline database: one query per part of a page, each from the
package's sql/ folder."""

from __future__ import annotations

from psycopg.rows import dict_row

from ml_pipeline.basics.db import sql

VERSIONS_SHOWN = 50
HISTORY_SHOWN = 20
PREDICTION_ROWS_SHOWN = 20


def _rows(connection, statement: str, **params) -> list[dict]:
    # A transaction of its own: a read left open would make a later change on the same connection a
    # savepoint that closing the connection rolls back.
    with connection.transaction(), connection.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql(statement), params).fetchall()


def run_view(connection, dataset: str, dag_run_id: str) -> dict:
    """A run's experiment, model, promotion and batch (each None until written), its candidates and
    its drift check."""
    (run,) = _rows(connection, "ui_run", dataset=dataset, dag_run_id=dag_run_id)
    candidates = (
        _rows(connection, "ui_candidates", experiment_id=run["experiment_id"]) if run["experiment_id"] else []
    )
    drift = _rows(connection, "ui_drift", dataset=dataset, dag_run_id=dag_run_id)
    return {"run": run, "candidates": candidates, "drift": drift}


def models_view(connection, dataset: str, scores: bool) -> dict:
    """A dataset's newest versions, its champion history, each day's test scores and, if ``scores`` (the
    user may read its scoring DAG), its newest day of predictions."""
    versions = _rows(connection, "ui_versions", dataset=dataset, limit=VERSIONS_SHOWN)
    shown = PREDICTION_ROWS_SHOWN
    return {
        "versions": versions,
        "version_count": versions[0]["versions"] if versions else 0,
        "history": _rows(connection, "ui_champion_history", dataset=dataset, limit=HISTORY_SHOWN),
        "daily": _rows(connection, "ui_daily_scores", dataset=dataset),
        "scores_readable": scores,
        "predicted": _rows(connection, "ui_predictions", dataset=dataset) if scores else [],
        "prediction_rows": _rows(connection, "ui_prediction_rows", dataset=dataset, limit=shown)
        if scores
        else [],
    }
