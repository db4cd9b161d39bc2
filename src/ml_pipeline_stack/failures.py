"""What a run or a backfill says while it waits or after it failed: the days whose file has not arrived,
and each failed task's own error, read from its newest log, so that `make run` names the problem
instead of only the folder of JSON logs it is in."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path


def missing_files(dataset: str, first: date, last: date) -> str | None:
    """For a drop-folder dataset, which days of [first, last] have no file yet, and how long each run
    will wait for it; None when every day has one, or the source is not a drop folder."""
    from ml_pipeline.basics.config import PipelineConfig

    config = PipelineConfig.from_env().with_overrides({"dataset": dataset})
    declared = config.declaration()
    if declared.source.kind != "drop_folder":
        return None
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    missing = [d for d in days if not any(p.exists() for p in declared.drop_files(config.data_dir, d))]
    if not missing:
        return None
    folder = Path(config.data_dir) / declared.source.folder
    return (
        f"No file yet for {', '.join(d.isoformat() for d in missing)} in {folder}/: each of those runs "
        f"waits in wait_for_batch_file, up to {config.wait_timeout_hours:g} h (wait_timeout_hours), "
        "for <date>.csv, .csv.gz or .parquet."
    )


def task_error(log_file: Path) -> str | None:
    """The last error a task's log records: the exception's type and message, else the event."""
    found = None
    for line in log_file.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or record.get("level") not in ("error", "critical"):
            continue
        details = record.get("error_detail") or record.get("exception") or []
        if isinstance(details, list) and details and isinstance(details[-1], dict):
            last = details[-1]
            found = f"{last.get('exc_type', 'Error')}: {last.get('exc_value', '')}".strip()
        elif found is None:
            found = str(record.get("event", "")).strip() or None
    return found


def failed_task_errors(run_logs: Path, task_instances: list[dict]) -> list[tuple[str, str]]:
    """Each failed task of a run, and its error (from the log of its last try)."""
    errors = []
    for ti in task_instances:
        if ti["state"] != "failed":
            continue
        folder = run_logs / f"task_id={ti['task_id']}"
        if ti.get("map_index", -1) >= 0:
            folder = folder / f"map_index={ti['map_index']}"
        log_file = folder / f"attempt={ti['try_number']}.log"
        message = task_error(log_file) if log_file.is_file() else None
        errors.append((ti["task_id"], message or f"no error recorded; see {log_file}"))
    return errors
