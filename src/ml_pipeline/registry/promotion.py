"""The model registry: every run's model registered, and per dataset one champion, the model that is live.

The ``models`` table is the truth; the ``models/<dataset>/champion`` link follows it, switched atomically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from psycopg.rows import dict_row

from ml_pipeline.basics.db import sql
from ml_pipeline.registry.experiments import for_run

CHAMPION_LINK = "champion"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    version: int
    dataset: str
    promoted: bool
    reason: str
    champion_version: int


def register_model(
    connection, dataset: str, dag_run_id: str, relative_path: Path, sha256: str, classes: tuple
) -> int:
    """Add (or, for a re-run, update) the run's model, which predicts ``classes``; return its version,
    the dataset's next (versions count per dataset)."""
    with connection.transaction():
        connection.execute(sql("lock_registry"))  # two runs of a dataset never take the same number
        return for_run(
            connection, "upsert_model", dataset, dag_run_id,
            path=str(relative_path), sha256=sha256, classes=[str(c) for c in classes],
        )[0]  # fmt: skip


def promote_if_better(
    connection,
    dataset: str,
    version: int,
    min_delta: float,
    force: bool = False,
    forced_by: str = "force_promote",
    rescore: Callable[[dict], dict | None] | None = None,
    drift: str | None = None,
    promoted_by: str | None = None,
    min_judged_rows: int = 1,
) -> Decision:
    """Make ``dataset``'s model ``version`` the champion if its accuracy beats the champion's by more
    than ``min_delta`` (or ``force``, from ``forced_by``); otherwise keep it as a challenger. Says why.

    ``rescore(champion_row)`` judges both on the same rows, which neither trained on (see judging.py):
    ``{"rows", "test_rows", "challenger", "champion"}``. Fewer than ``min_judged_rows`` such rows are too
    few to judge: the model stays a challenger. Without ``rescore``, or if the champion's file cannot be
    loaded, the accuracies of each on its own day's test split are compared, and the reason says so.
    ``drift`` says how today's data drifted from the champion's, if it did: the model then stays a
    challenger, unless forced. ``promoted_by`` names who asked for it, when a person did.
    """
    with connection.transaction(), connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(sql("lock_registry"))
        new = cursor.execute(sql("select_model"), {"dataset": dataset, "version": version}).fetchone()
        if new is None:
            raise LookupError(
                f"{dataset} has no model version {version}; its versions: `make psql` then "
                f"`SELECT version, status FROM models WHERE dataset = '{dataset}';`."
            )
        old = cursor.execute(sql("select_champion"), {"dataset": new["dataset"]}).fetchone()
        if old is not None and old["version"] == version:
            return Decision(
                version, new["dataset"], False, f"version {version} is already the champion", version
            )
        if old is None:
            return _crown(
                cursor, new, None, f"version {version} is the first model of {new['dataset']}", promoted_by
            )
        judged = rescore(old) if rescore is not None else None
        accuracies, comparison, unseen_rows = _comparison(new, old, judged)
        if force:
            despite = f"; despite {drift}" if drift else ""
            return _crown(cursor, new, old, f"promoted by {forced_by} ({comparison}{despite})", promoted_by)
        promoted, reason = _verdict(
            new, unseen_rows, accuracies, comparison, drift, min_delta, min_judged_rows
        )
        if promoted:
            return _crown(cursor, new, old, reason, promoted_by)
        _set_status(cursor, new, "challenger", reason)
        return Decision(version, new["dataset"], False, reason, old["version"])


def _verdict(
    new: dict, unseen_rows, accuracies, comparison: str, drift, min_delta: float, min_judged_rows: int
) -> tuple[bool, str]:
    """Whether the new model wins on merit, and why: drift first, then too few rows to judge on (when
    the comparison is on the rows neither trained on), then the margin."""
    by_hand = (
        f"`make promote VERSION={new['version']} DATASET={new['dataset']}` makes it the champion by hand"
    )
    if drift:
        return False, f"kept as a challenger: {drift} ({comparison}); {by_hand}"
    if unseen_rows is not None and unseen_rows < min_judged_rows:
        return False, (
            f"kept as a challenger: too few rows to judge it: {comparison}, fewer than min_judged_rows "
            f"{min_judged_rows} (the champion trained on the others); {by_hand}"
        )
    if accuracies[0] > accuracies[1] + min_delta:
        return True, f"{comparison}: better by more than min_delta {min_delta:g}"
    return False, f"kept as a challenger: {comparison}, not better by more than min_delta {min_delta:g}"


def _comparison(new: dict, old: dict, judged: dict | None) -> tuple[tuple[float, float], str, int | None]:
    """The accuracies to compare (the new model's, the champion's), the words that say which, and on how
    many rows neither trained on (None when each is judged on its own day instead)."""
    if judged is not None and judged["rows"] and judged["champion"] is not None:
        return (
            (judged["challenger"], judged["champion"]),
            (
                f"on the {judged['rows']} of {judged['test_rows']} test rows that neither model trained on, "
                f"accuracy {judged['challenger']:.4f} against champion version {old['version']}'s "
                f"{judged['champion']:.4f}"
            ),
            judged["rows"],
        )
    own_days = (new["test_accuracy"], old["test_accuracy"])
    if judged is not None and not judged["rows"]:
        return (
            own_days,
            f"none of the {judged['test_rows']} test rows is one that neither model trained on",
            0,
        )
    return (
        own_days,
        (
            f"test accuracy {new['test_accuracy']:.4f} against champion version {old['version']}'s "
            f"{old['test_accuracy']:.4f}, each on the test split of its own day"
        ),
        None,
    )


def choose_champion(
    connection, dataset: str, version: int, forced_by: str, promoted_by: str
) -> tuple[Decision, dict]:
    """Make ``dataset``'s model ``version`` the champion by hand (a promotion or a rollback), whatever
    its scores; the decision, and the dataset's champion now."""
    decision = promote_if_better(
        connection, dataset, version, 0.0, force=True, forced_by=forced_by, promoted_by=promoted_by
    )
    return decision, champion(connection, decision.dataset)


def _crown(cursor, new: dict, old: dict | None, reason: str, promoted_by: str | None) -> Decision:
    if old is not None:
        _set_status(cursor, old, "archived", f"replaced by version {new['version']}")
    _set_status(cursor, new, "champion", reason)
    cursor.execute(
        sql("insert_promotion"),
        {
            "dataset": new["dataset"],
            "from_version": old and old["version"],
            "to_version": new["version"],
            "reason": reason,
            "promoted_by": promoted_by,
        },
    )
    cursor.execute(sql("notify_champion"), {"dataset": new["dataset"]})  # delivered on commit
    return Decision(new["version"], new["dataset"], True, reason, new["version"])


def _set_status(cursor, model: dict, status: str, reason: str) -> None:
    cursor.execute(
        sql("set_model_status"),
        {"dataset": model["dataset"], "version": model["version"], "status": status, "reason": reason},
    )


def champion(connection, dataset: str) -> dict | None:
    """The dataset's champion: version, path (in the models folder), sha256 and test accuracy, if any."""
    with connection.transaction(), connection.cursor(row_factory=dict_row) as cursor:
        return cursor.execute(sql("select_champion"), {"dataset": dataset}).fetchone()


def champion_accuracy(models_dir: Path, champion: dict, test) -> dict:
    """The champion's version and accuracy on a run's test split (a Batch), which promote_if_better's
    ``rescore`` gives; the accuracy is None if its file cannot be loaded or trusted."""
    from ml_pipeline.registry import model_files

    try:
        model = model_files.load_model(models_dir / champion["path"], champion["sha256"])
    except (OSError, model_files.ModelIntegrityError) as error:
        log.warning("The champion is judged on its own day's test split: %s", error)
        return {"version": champion["version"], "accuracy": None}
    return {
        "version": champion["version"],
        "accuracy": float((model.predict(test.features) == test.labels).mean()),
    }


def point_champion(models_dir: Path, live: dict) -> Path:
    """Switch ``models/<dataset>/champion`` to the champion's file in one step (a link renamed into place)."""
    folder = models_dir / live["dataset"]
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / CHAMPION_LINK
    temporary = folder / f".{CHAMPION_LINK}.{os.getpid()}.tmp"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(os.path.relpath(models_dir / live["path"], folder))
    os.replace(temporary, link)
    return link
