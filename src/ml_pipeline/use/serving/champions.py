"""The models the scoring service serves: each dataset's champion, loaded from the database (the model
file's bytes, sha256-checked) and swapped in whole when a promotion or a rollback changes it.

A request takes the dataset's ``Served`` once and scores with it to the end, so that a swap meanwhile
never mixes two models in one answer; a model that fails to load never replaces the one being served.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
from psycopg.rows import dict_row

from ml_pipeline.basics.db import sql
from ml_pipeline.data_in.table_check import Columns
from ml_pipeline.registry.model_files import metadata_path, model_from_bytes
from ml_pipeline.training.model import affine_form
from ml_pipeline.use.predict import columns_recorded

DATABASE_ERRORS = (psycopg.Error, ConnectionError, OSError)  # the database gone: keep serving, retry
POLL_SECONDS = 5.0  # a check without a notice, for a change that sent none (a database restored)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """One dataset's champion, ready to score."""

    dataset: str
    version: int
    sha256: str
    since: datetime | None
    model: object
    columns: Columns
    loaded_at: datetime
    affine: tuple | None = None  # the model as one affine map, when it agrees with it (model.affine_form)

    def scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's predicted class (as declared) and each class's probability."""
        if self.affine is None:
            probabilities = self.model.predict_proba(features)
        else:
            weights, offset, link = self.affine
            probabilities = link(features @ weights + offset)
        return np.asarray(self.columns.classes, dtype=object)[probabilities.argmax(axis=1)], probabilities

    def describe(self) -> dict:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "since": self.since and self.since.isoformat(),
            "loaded_at": self.loaded_at.isoformat(),
            "features": list(self.columns.features),
            "classes": list(self.columns.classes),
            "key": self.columns.key,
        }


class Champions:
    """Every dataset's served champion, and what stops one from being served."""

    def __init__(
        self, open_connection: Callable[[], AbstractContextManager], models_dir: Path, datasets_dir: Path
    ):
        self.open_connection, self.models_dir, self.datasets_dir = open_connection, models_dir, datasets_dir
        self.served: dict[str, Served] = {}
        self.problems: dict[str, str] = {}
        self.database_problem: str | None = "not yet connected to the pipeline database"
        self._failed: dict[str, tuple[int, str]] = {}  # a champion that failed to load, not tried again
        self._refreshing = threading.Lock()

    def get(self, dataset: str) -> Served | None:
        return self.served.get(dataset)

    def refresh(self) -> None:
        """Load every champion that is not yet the one served."""
        with self._refreshing, self.open_connection() as connection:
            with connection.cursor(row_factory=dict_row) as cursor:
                try:
                    champions = cursor.execute(sql("select_served_champions")).fetchall()
                except psycopg.errors.UndefinedTable:  # no run has made the tables yet: nothing to serve
                    champions = []
            self.database_problem = None
            for champion in champions:
                current = self.served.get(champion["dataset"])
                wanted = (champion["version"], champion["sha256"])
                if current and (current.version, current.sha256) == wanted:
                    self.problems.pop(champion["dataset"], None)
                elif self._failed.get(champion["dataset"]) != wanted:
                    self._load(connection, champion)
            for gone in set(self.served) - {champion["dataset"] for champion in champions}:
                del self.served[gone]  # its models were removed from the registry
            connection.rollback()

    def _load(self, connection, champion: dict) -> None:
        dataset, version = champion["dataset"], champion["version"]
        try:
            model, metadata = self._model(connection, champion)
            columns, affine = columns_recorded(metadata, self.datasets_dir), affine_form(model)
        # Whatever stops a model from loading (a changed file, a pickle of another library) keeps the
        # one served, and must not end the thread that follows the registry.
        except Exception as error:  # noqa: BLE001
            kept = self.served.get(dataset)
            self.problems[dataset] = f"champion version {version} could not be loaded: {error}" + (
                f" (still serving version {kept.version})" if kept else ""
            )
            log.error("%s: %s", dataset, self.problems[dataset])
            self._failed[dataset] = (version, champion["sha256"])
            return
        self.served[dataset] = Served(
            dataset, version, champion["sha256"], champion["since"], model, columns,
            datetime.now(UTC), affine,
        )  # fmt: skip
        self.problems.pop(dataset, None)
        log.info("%s: serving champion version %d (sha256 %s)", dataset, version, champion["sha256"][:12])

    def _model(self, connection, champion: dict) -> tuple[object, dict]:
        """The champion's model and metadata: from the database, or (saved before it kept model files)
        from the models folder, if this machine has it."""
        stored = connection.execute(sql("select_model_file"), {"sha256": champion["sha256"]}).fetchone()
        if stored is not None:
            origin = f"the model file of {champion['dataset']} version {champion['version']}"
            return model_from_bytes(bytes(stored[0]), champion["sha256"], stored[1], origin), stored[1]
        path = self.models_dir / champion["path"]
        if not path.is_file():
            raise OSError(
                f"the database holds no copy of it (it was saved before the scoring service kept one) and "
                f"{path} is not on this machine: re-run its date, or promote a newer version"
            )
        metadata = json.loads(metadata_path(path).read_text())
        return model_from_bytes(path.read_bytes(), champion["sha256"], metadata, str(path)), metadata

    def health(self) -> tuple[bool, dict]:
        """Whether every champion is being served, and each dataset's state."""
        datasets = {name: {"serving": served.version} for name, served in self.served.items()}
        for name, problem in self.problems.items():
            datasets.setdefault(name, {"serving": None})["problem"] = problem
        ready = self.database_problem is None and not self.problems
        body = {"status": "ready" if ready else "not ready", "datasets": datasets}
        if self.database_problem:
            body["problem"] = self.database_problem
        return ready, body

    def first_load(self) -> None:
        """The champions before the service takes requests; a database not there yet is only noted
        (``follow`` keeps trying)."""
        try:
            self.refresh()
        except DATABASE_ERRORS as error:
            self._lost(error)

    def follow(self, stop: threading.Event) -> None:
        """Keep the served champions those of the registry until ``stop``: woken by each promotion's
        notice, and every POLL_SECONDS in any case; a lost database is retried, the models kept."""
        while not stop.is_set():
            try:
                with self.open_connection() as listener:
                    listener.autocommit = True
                    listener.execute(sql("listen_champion"))
                    self.refresh()
                    while not stop.is_set():
                        for _ in listener.notifies(timeout=POLL_SECONDS, stop_after=1):
                            pass
                        self.refresh()
            except DATABASE_ERRORS as error:
                self._lost(error)
                stop.wait(POLL_SECONDS)

    def _lost(self, error: Exception) -> None:
        self.database_problem = f"the pipeline database cannot be reached: {' '.join(str(error).split())}"
        log.warning("%s; trying again within %.0f s", self.database_problem, POLL_SECONDS)
