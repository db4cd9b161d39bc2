"""Drift before promotion: is today's batch drawn from the data the champion was trained on?

Each feature, and the class balance, is compared by its population stability index (PSI): the
champion's training rows are cut into ``PSI_BINS`` bins of equal share at their own quantiles, and

    PSI = sum over bins of (today's share - the champion's share) * ln(today's share / the champion's share)

PSI is a size of the shift, not a test: unlike a two-sample test's p-value it does not shrink to
"significant" for any trifle as batches grow to millions of rows, and the same rule of thumb reads
it for every feature and for the classes (below 0.1 stable, 0.1-0.25 a small shift, above 0.25 a
large one). It needs one pass over each column, against 10 bin edges.

The champion's side is its ``Reference``: the bin edges and shares of its training data, recorded
when the model is saved (``refit_final_model``), so that a check reads only the day's stored batch
(batch_store.py) and runs on any worker. A champion saved without one (an older release) gets it
from its stored training window on the first check.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ml_pipeline.batch import Batch
from ml_pipeline.batch_store import load_batches
from ml_pipeline.config import PipelineConfig
from ml_pipeline.datasets import Dataset
from ml_pipeline.db import sql
from ml_pipeline.run import RunKey
from ml_pipeline.training_data import check_stored_by_run

PSI_BINS = 10
SHARE_FLOOR = 1e-4  # an empty bin counts as this share: ln(0) has no value


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """The population stability index of ``actual`` shares against ``expected`` ones (each sums to 1)."""
    expected, actual = np.maximum(expected, SHARE_FLOOR), np.maximum(actual, SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def bin_edges(column: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Inner edges cutting ``column`` into ``bins`` bins of equal share (fewer where values repeat)."""
    return np.unique(np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1]))


def shares(column: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The share of ``column``'s values in each bin that ``edges`` make."""
    counts = np.bincount(np.searchsorted(edges, column, side="right"), minlength=len(edges) + 1)
    return counts / max(len(column), 1)


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


@dataclass(frozen=True)
class Reference:
    """A model's training data in bins: per feature its inner bin edges and the share of rows in each
    bin, and the share of each class."""

    rows: int
    edges: list[np.ndarray]
    shares: list[np.ndarray]
    class_shares: np.ndarray


def _per_feature(function, features: np.ndarray, *per_column) -> list:
    """``function(column, *its items of per_column)`` for each column; NumPy's sorts and searches let
    go of the GIL, so threads use every core."""
    columns = (features[:, index] for index in range(features.shape[1]))
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(function, columns, *per_column))


def reference_of(batch: Batch, n_classes: int) -> Reference:
    """The bins of ``batch`` (a model's training rows) that later batches are compared with."""

    def binned(column):
        edges = bin_edges(column)
        return edges, shares(column, edges)

    per_feature = _per_feature(binned, batch.features)
    return Reference(
        rows=len(batch),
        edges=[edges for edges, _ in per_feature],
        shares=[counted for _, counted in per_feature],
        class_shares=np.bincount(batch.labels, minlength=n_classes) / max(len(batch), 1),
    )


def save_reference(connection, version: int, dataset: Dataset, reference: Reference) -> None:
    """Model ``version``'s reference into drift_reference, replacing an earlier one of the version."""
    rows = [
        {"kind": "feature", "name": name, "edges": edges.tolist(), "shares": counted.tolist()}
        for name, edges, counted in zip(dataset.features, reference.edges, reference.shares, strict=True)
    ]
    rows.append({"kind": "class_balance", "name": dataset.label, "edges": [],
                 "shares": reference.class_shares.tolist()})  # fmt: skip
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(sql("delete_drift_reference"), {"version": version})
        cursor.executemany(
            sql("insert_drift_reference"),
            [{**row, "version": version, "rows": reference.rows} for row in rows],
        )


def load_reference(connection, version: int, dataset: Dataset) -> Reference | None:
    """Model ``version``'s recorded reference; None if it has none for each declared feature."""
    with connection.transaction(), connection.cursor() as cursor:
        stored = cursor.execute(sql("select_drift_reference"), {"version": version}).fetchall()
    bins = {(kind, name): (edges, counted, rows) for kind, name, edges, counted, rows in stored}
    wanted = [("feature", name) for name in dataset.features] + [("class_balance", dataset.label)]
    if any(key not in bins for key in wanted):
        return None
    return Reference(
        rows=bins[wanted[0]][2],
        edges=[np.array(bins[key][0], dtype=float) for key in wanted[:-1]],
        shares=[np.array(bins[key][1], dtype=float) for key in wanted[:-1]],
        class_shares=np.array(bins[wanted[-1]][1], dtype=float),
    )


def compare(reference: Reference, current: Batch, dataset: Dataset, threshold: float, champion) -> DriftCheck:
    """The PSI of each feature and of the class balance of ``current`` against the ``reference``."""
    today = _per_feature(shares, current.features, reference.edges)
    figures = [
        {"kind": "feature", "name": name, "psi": psi(expected, actual)}
        for name, expected, actual in zip(dataset.features, reference.shares, today, strict=True)
    ]
    balance = np.bincount(current.labels, minlength=len(reference.class_shares)) / max(len(current), 1)
    figures.append(
        {"kind": "class_balance", "name": dataset.label, "psi": psi(reference.class_shares, balance)}
    )
    return DriftCheck(
        champion_version=champion["version"],
        champion_date=champion["run_date"].isoformat(),
        reference_rows=reference.rows,
        current_rows=len(current),
        threshold=threshold,
        figures=figures,
    )


def champion_training(connection, dataset: str) -> dict | None:
    """The champion's version, its run's date, training window (days) and parameters; None if none."""
    from psycopg.rows import dict_row

    with connection.transaction(), connection.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql("select_champion_training"), {"dataset": dataset}).fetchone()


def check_drift(connection, config: PipelineConfig, run: RunKey) -> DriftCheck | None:
    """Today's stored batch against the champion's reference; None if the dataset has no champion yet
    (or its training batches are gone, for a champion saved without a reference)."""
    dataset = config.declaration()
    champion = champion_training(connection, dataset.name)
    if champion is None:
        return None
    with connection.transaction():
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        check_stored_by_run(connection, dataset, run)
        reference = load_reference(connection, champion["version"], dataset)
        recorded = reference is not None
        if not recorded:
            first = champion["run_date"] - timedelta(days=champion["window_days"] - 1)
            training = load_batches(connection, dataset, first, champion["run_date"] + timedelta(days=1))
            if not len(training):
                return None
            reference = reference_of(training, len(dataset.classes))
            del training
        current = load_batches(connection, dataset, run.run_date, run.run_date + timedelta(days=1))
    if not recorded:
        save_reference(connection, champion["version"], dataset, reference)
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

    from ml_pipeline.files import atomic_writer

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
