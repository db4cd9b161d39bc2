"""Drift before promotion: is today's batch drawn from the data the champion was trained on?

Each feature, and the class balance, is compared by its population stability index (PSI): the
champion's training rows are cut into ``PSI_BINS`` bins of equal share at their own deciles, and

    PSI = sum over bins of (today's share - the champion's share) * ln(today's share / the champion's share)

PSI is a size of the shift, not a test: unlike a two-sample test's p-value it does not shrink to
"significant" for any trifle as batches grow to millions of rows, and the same rule of thumb reads
it for every feature and for the classes (below 0.1 stable, 0.1-0.25 a small shift, above 0.25 a
large one).

Both sides come from what is stored with each batch (batch_store.py): its quantile sketches
(sketch.py) and class counts. The check reads no rows, whatever the size of the batches, and runs
on any worker.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ml_pipeline.basics.config import PipelineConfig
from ml_pipeline.basics.datasets import Dataset
from ml_pipeline.basics.db import sql
from ml_pipeline.basics.run import RunKey
from ml_pipeline.data_in.batch_store import StoredBatches, stored_batches
from ml_pipeline.data_in.sketch import mixture_below, mixture_quantiles
from ml_pipeline.training.training_data import check_stored_by_run

PSI_BINS = 10
DECILES = np.linspace(0, 1, PSI_BINS + 1)[1:-1]
SHARE_FLOOR = 1e-4  # an empty bin counts as this share: ln(0) has no value


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """The population stability index of ``actual`` shares against ``expected`` ones (each sums to 1)."""
    expected, actual = np.maximum(expected, SHARE_FLOOR), np.maximum(actual, SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def bin_edges(batches: StoredBatches, feature: int) -> np.ndarray:
    """Inner edges cutting the batches' values of ``feature`` into PSI_BINS bins of equal share (fewer
    where values repeat)."""
    return np.unique(mixture_quantiles(list(batches.sketches[:, feature]), batches.weights, DECILES))


def shares(batches: StoredBatches, feature: int, edges: np.ndarray) -> np.ndarray:
    """The share of the batches' values of ``feature`` in each bin that ``edges`` make."""
    below = mixture_below(list(batches.sketches[:, feature]), batches.weights, edges)
    return np.diff(np.concatenate([[0.0], below, [1.0]]))


@dataclass(frozen=True)
class DriftCheck:
    """Today's batch against the champion's training data: a PSI per feature and for the classes."""

    champion_version: int
    champion_date: str
    reference_rows: int
    current_rows: int
    threshold: float
    figures: list[dict]  # {"kind": "feature" | "class_balance", "name": ..., "psi": ...}

    @property
    def drifted(self) -> list[dict]:
        return [figure for figure in self.figures if figure["psi"] > self.threshold]

    def summary(self) -> str | None:
        """What drifted, as the model's status reason says it; None if nothing did."""
        drifted = sorted(self.drifted, key=lambda figure: -figure["psi"])
        if not drifted:
            return None
        named = ", ".join(
            f"{'class balance of ' if f['kind'] == 'class_balance' else ''}{f['name']} ({f['psi']:.2f})"
            for f in drifted
        )
        return (
            f"data drift against champion version {self.champion_version}'s training data "
            f"({self.champion_date}): PSI above {self.threshold:g} for {named}"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def compare(
    reference: StoredBatches, current: StoredBatches, dataset: Dataset, threshold: float, champion: dict
) -> DriftCheck:
    """The PSI of each feature and of the class balance of ``current`` against ``reference``."""
    figures = []
    for index, name in enumerate(dataset.features):
        edges = bin_edges(reference, index)
        expected, actual = shares(reference, index, edges), shares(current, index, edges)
        figures.append({"kind": "feature", "name": name, "psi": psi(expected, actual)})
    balance = [batches.class_counts / batches.class_counts.sum() for batches in (reference, current)]
    figures.append({"kind": "class_balance", "name": dataset.label, "psi": psi(*balance)})
    return DriftCheck(
        champion_version=champion["version"],
        champion_date=champion["run_date"].isoformat(),
        reference_rows=int(reference.rows.sum()),
        current_rows=int(current.rows.sum()),
        threshold=threshold,
        figures=figures,
    )


def champion_training(connection, dataset: str) -> dict | None:
    """The champion's version, its run's date, training window (days) and parameters; None if none."""
    from psycopg.rows import dict_row

    with connection.transaction(), connection.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql("select_champion_training"), {"dataset": dataset}).fetchone()


def check_drift(connection, config: PipelineConfig, run: RunKey) -> DriftCheck | None:
    """Today's stored batch against the stored batches the champion was trained on; None if the
    dataset has no champion yet (or its training batches are gone)."""
    dataset = config.declaration()
    champion = champion_training(connection, dataset.name)
    if champion is None:
        return None
    first = champion["run_date"] - timedelta(days=champion["window_days"] - 1)
    with connection.transaction():
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        check_stored_by_run(connection, dataset, run)
        reference = stored_batches(connection, dataset, first, champion["run_date"] + timedelta(days=1))
        if not reference.dates:
            return None
        current = stored_batches(connection, dataset, run.run_date, run.run_date + timedelta(days=1))
    return compare(reference, current, dataset, config.drift_threshold, champion)


def save_drift(connection, dataset: str, run: RunKey, check: DriftCheck) -> None:
    """The run's drift rows, replacing any of an earlier try, in one transaction."""
    import json

    keys = {"dataset": dataset, "dag_run_id": run.run_id}
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(sql("delete_drift"), keys)
        cursor.execute(
            sql("insert_drift"),
            {
                **keys,
                "run_date": run.run_date,
                "champion_version": check.champion_version,
                "champion_date": date.fromisoformat(check.champion_date),
                "threshold": check.threshold,
                "figures": json.dumps(check.figures),
            },
        )


def plot_drift(check: DriftCheck, path: Path, run_date: date) -> Path:
    """A bar per feature and one for the class balance: their PSI, the threshold as a line, the
    drifted ones in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ml_pipeline.basics.files import atomic_writer

    figures = check.figures
    names = [f"classes ({f['name']})" if f["kind"] == "class_balance" else f["name"] for f in figures]
    values = [f["psi"] for f in figures]
    colours = ["tab:red" if value > check.threshold else "tab:blue" for value in values]
    figure, axes = plt.subplots(figsize=(7, 1.5 + 0.24 * len(figures)))
    axes.barh(range(len(figures)), values, color=colours)
    axes.set_yticks(range(len(figures)), names, fontsize=8)
    axes.invert_yaxis()
    axes.axvline(
        check.threshold, color="k", linestyle="--", linewidth=1, label=f"drift_threshold {check.threshold:g}"
    )
    axes.set_xlabel("population stability index (PSI)")
    axes.set_title(
        f"{run_date}: {check.current_rows:,} rows against champion v{check.champion_version}'s "
        f"{check.reference_rows:,} ({check.champion_date})",
        fontsize=9,
    )
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    with atomic_writer(path) as stream:
        figure.savefig(stream, format="png", dpi=110)
    plt.close(figure)
    return path
