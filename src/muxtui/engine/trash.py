"""Deleted workspaces: list what is in the trash, restore one, purge the old ones.

``Storage.delete_workspace`` moves a workspace's folder to ``trash/<id>-<unix time>/`` (the
folder is kept whole: meta, history, queue). This module reads that folder back: the deletion
time comes from the folder name (a rename keeps the folder's own mtime, so mtime says nothing
about when it was deleted). Restoring moves the folder back under ``workspaces/`` and lets
``Storage.list_workspaces`` fold it into the registry, as it does for any folder it misses.

Synchronous and cheap, like storage: callers in the event loop run it in a thread.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from muxtui.engine.storage import Storage, StorageError, WorkspaceInfo, clean_name

KEEP_DAYS = 30
KEEP_SECONDS = KEEP_DAYS * 86400


@dataclass(frozen=True, slots=True)
class Trashed:
    """One deleted workspace in the trash."""

    key: str  # the trash folder's name: what `muxtui restore` and the app pass back
    id: str
    name: str
    model: str
    deleted_at: float
    path: Path


def _deleted_at(folder: Path) -> float:
    _, _, stamp = folder.name.rpartition("-")
    if stamp.isdigit():
        return float(stamp)
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


def _read(folder: Path) -> Trashed | None:
    if not folder.is_dir():
        return None
    ws_id = folder.name.rpartition("-")[0] or folder.name
    meta: dict = {}
    try:
        loaded = json.loads((folder / "meta.json").read_bytes())
        if isinstance(loaded, dict):
            meta = loaded
    except (OSError, ValueError):
        pass  # a damaged meta: still restorable, list_workspaces rebuilds it
    if isinstance(meta.get("id"), str) and meta["id"]:
        ws_id = meta["id"]
    name = clean_name(meta.get("name") or f"recovered {ws_id[:8]}")
    model = meta.get("model") if isinstance(meta.get("model"), str) else ""
    return Trashed(folder.name, ws_id, name, model, _deleted_at(folder), folder)


def list_trash(storage: Storage) -> list[Trashed]:
    """Deleted workspaces, most recently deleted first."""
    try:
        folders = list(storage.trash.iterdir())
    except OSError:
        return []
    entries = [t for t in (_read(f) for f in folders) if t is not None]
    entries.sort(key=lambda t: t.deleted_at, reverse=True)
    return entries


def find(storage: Storage, name_or_key: str) -> Trashed | None:
    """A trash entry by folder name, workspace id or name (the most recently deleted wins)."""
    entries = list_trash(storage)
    for match in (lambda t: t.key == name_or_key, lambda t: t.id == name_or_key,
                  lambda t: t.name == name_or_key):
        for entry in entries:
            if match(entry):
                return entry
    return None


def restore(storage: Storage, entry: Trashed) -> WorkspaceInfo:
    """Move a trashed workspace back; returns it as listed (at the end of the list).

    Raises StorageError with a message a user can act on when that cannot be done."""
    if "/" in entry.id or entry.id in ("", ".", ".."):
        raise StorageError(f"cannot restore {entry.key}: its id {entry.id!r} is not valid")
    if not entry.path.is_dir():
        raise StorageError(f"'{entry.name}' is no longer in the trash")
    target = storage.ws_root / entry.id
    if target.exists():
        raise StorageError(f"cannot restore '{entry.name}': a workspace with id {entry.id} exists already")
    try:
        os.replace(entry.path, target)
    except FileNotFoundError:
        raise StorageError(f"'{entry.name}' is no longer in the trash") from None
    for info in storage.list_workspaces():  # folds the folder back into the registry
        if info.id == entry.id:
            return info
    raise StorageError(f"restored {target} but it could not be listed")  # pragma: no cover


def purge(storage: Storage, older_than_s: float = KEEP_SECONDS, now: float | None = None) -> list[str]:
    """Delete trashed workspaces deleted more than `older_than_s` ago; returns their folder names."""
    now = time.time() if now is None else now
    removed = []
    for entry in list_trash(storage):
        if now - entry.deleted_at > older_than_s:
            try:
                shutil.rmtree(entry.path)
            except OSError:
                continue  # tried again next time
            removed.append(entry.key)
    return removed
