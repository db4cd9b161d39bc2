"""Folders that workers on other machines may share: a local path, or an object-store URL (``s3://bucket/prefix``,
``gs://bucket/prefix``, any scheme an Airflow provider registers with fsspec), both as Airflow's
``ObjectStoragePath``. The store's credentials come from an Airflow connection, named by a setting.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

LOCAL_PROTOCOLS = ("", "file", "local")


def storage_path(location: str, conn_id: str = "") -> ObjectStoragePath:
    """``location`` (a local path or a URL) as an ``ObjectStoragePath``, through ``conn_id`` if given."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(location, conn_id=conn_id or None)


def is_url(location: str) -> bool:
    """Whether ``location`` names an object store rather than a local folder."""
    scheme, separator, _ = str(location).partition("://")
    return bool(separator) and scheme.lower() not in LOCAL_PROTOCOLS


def is_local(path: ObjectStoragePath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


class StoreError(Exception):
    """An object store that cannot be read: it does not answer, has no such bucket, or refuses the
    credentials. The message names the location and what to check."""

    def __init__(self, location: str, message: str):
        self.location = location
        super().__init__(message)


def within(location: str | Path, relative: str, conn_id: str = "") -> Path | ObjectStoragePath:
    """``relative`` inside ``location``: in its object store if ``location`` is a URL (through
    ``conn_id``), else a local ``Path``; an absolute ``relative`` is a local folder of its own."""
    if is_url(str(location)) and not Path(relative).is_absolute():
        return storage_path(f"{str(location).rstrip('/')}/{relative}", conn_id)
    return Path(location) / relative


def shown(path: Path | ObjectStoragePath) -> str:
    """A path as the user wrote it: a local path, or the URL (``s3://bucket/key``, without the
    connection's name that ``str`` puts in it)."""
    if isinstance(path, Path) or is_local(path):
        return str(path)
    return f"{path.protocol}://{path.path}"


def unreadable(location: str, conn_id: str, reason: str) -> StoreError:
    """What to say when the store behind ``location`` cannot be read, and what to check."""
    credentials = (
        f"the credentials of the Airflow connection {conn_id!r} (e.g. AIRFLOW_CONN_{conn_id.upper()}, an aws "
        "connection for s3://)"
        if conn_id
        else "the store's default credentials (no Airflow connection is named)"
    )
    return StoreError(
        location,
        f"Cannot read {location}: {reason}. Check that the object store answers at its endpoint (the "
        f"connection's extra endpoint_url, if it has one), that the bucket exists, and that {credentials} "
        "may read and write there.",
    )


@contextmanager
def store_errors(path: Path | ObjectStoragePath):
    """Any failure of the object store inside (an endpoint that does not answer, no such bucket, refused
    credentials) as one StoreError naming ``path``; a local path's errors are left as they are."""
    if isinstance(path, Path) or is_local(path):
        yield
        return
    try:
        yield
    except StoreError:
        raise
    except Exception as error:  # the store's client has errors of its own: botocore's, aiohttp's
        reason = " ".join(str(error).split())[:300] or type(error).__name__
        if isinstance(error, PermissionError):  # the store's 403: its message may be a bare "Forbidden"
            reason = f"access denied ({reason})"
        raise unreadable(shown(path), path.conn_id or "", reason) from None


def present(paths: list) -> list:
    """Those of ``paths`` (names in one folder) that exist: anything by that name, a link or a folder
    too. In an object store, StoreError if it cannot tell, or if its bucket does not exist."""
    first = paths[0]
    if isinstance(first, Path) or is_local(first):
        return [path for path in paths if os.path.lexists(path)]
    with store_errors(first.parent):
        first.fs.invalidate_cache(first.parent.path)  # a listing cached by an earlier look hides new files
        found = [path for path in paths if path.exists()]
        bucket = storage_path(f"{first.protocol}://{first.bucket}", first.conn_id or "")
        if not found and not bucket.exists():
            raise unreadable(shown(first.parent), first.conn_id or "", f"there is no bucket {first.bucket!r}")
    return found


def move(source: Path | ObjectStoragePath, target: Path | ObjectStoragePath) -> None:
    """``source`` moved to ``target``: between local folders (any mount), within a store, or between a
    local folder and a store."""
    if isinstance(source, Path) and isinstance(target, Path):
        shutil.move(source, target)
        return
    with store_errors(target if isinstance(source, Path) else source):
        (storage_path(str(source)) if isinstance(source, Path) else source).move(target)
