"""What a failed run says: each failed task's own error, read from its newest log, so that `make run`
names the problem instead of only the folder of JSON logs it is in."""

from __future__ import annotations

import json
from pathlib import Path


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
