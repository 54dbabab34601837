"""On-disk workspaces: registry, append-only history, partial reply, queue, and file locks.

Layout under the data dir (format in docs/storage.md):

    workspaces.json                 registry: order and last activity (rebuildable)
    workspaces/<id>/meta.json       id, name, model, created_at (authoritative)
    workspaces/<id>/chat.jsonl      append-only history, one JSON record per line
    workspaces/<id>/partial.json    the reply being streamed (atomic rewrites)
    workspaces/<id>/queue.json      messages waiting for the current turn to end
    workspaces/<id>/settings.json   per-workspace request settings (system prompt, temperature, ...)
    workspaces/<id>/stream.lock     flock held by the process streaming in this workspace
    workspaces/<id>/write.lock      flock held briefly around each history append

Everything here is synchronous and cheap; the stream manager calls it from a thread so the
event loop never waits on disk. Names are display text only and never become paths.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muxtui.engine import atomic

FORMAT_VERSION = 1
MAX_NAME = 200
log = logging.getLogger("muxtui.storage")


def now() -> float:
    return time.time()


def as_float(value: Any, default: float = 0.0) -> float:
    """Hand-edited or damaged files: a bad number reads as the default, never a crash."""
    if isinstance(value, bool):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


# Times muxtui can show: from the epoch to the end of year 9999 (datetime's limit).
MAX_TIME = 253402300799.0


def valid_time(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and 0 <= value <= MAX_TIME)  # NaN compares false, so it is refused too


def as_time(value: Any, default: float = 0.0) -> float:
    """A timestamp read from disk; out of range, infinite or not a number reads as `default`."""
    return float(value) if valid_time(value) else default


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def clean_name(name: str) -> str:
    """Display names: one line, no control characters, bounded length. Never used as a path."""
    name = "".join(ch if ch.isprintable() else " " for ch in str(name)).strip()
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 1] + "…"
    return name or "untitled"


class StorageError(Exception):
    pass


class WorkspaceBusy(StorageError):
    """Another muxtui process is streaming in this workspace (it holds stream.lock)."""


@dataclass
class WorkspaceInfo:
    id: str
    name: str
    model: str
    created_at: float
    last_activity: float = 0.0
    # The last reply's status and error type, so badges need no history read at start-up.
    last_status: str | None = None
    last_error_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "model": self.model,
            "created_at": self.created_at,
            "last_activity": self.last_activity,
            "last_status": self.last_status,
            "last_error_type": self.last_error_type,
        }


@dataclass
class History:
    messages: list[dict[str, Any]]
    max_seq: int
    warnings: list[str] = field(default_factory=list)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _flock(path: Path, blocking: bool) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, atomic.FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _unflock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _coerce_message(rec: dict[str, Any]) -> list[str]:
    """Make a loaded record safe for every reader (UI, export, manager), whatever the file held.

    Returns what had to be repaired, one short phrase per field, for the caller's warning (a
    missing optional field just takes its default).
    """
    fixed: list[str] = []
    if not isinstance(rec.get("content"), str):
        if rec.get("content") is not None:
            fixed.append(f"content {_shown(rec['content'])} is not text")
        rec["content"] = "" if rec.get("content") is None else str(rec["content"])
    if not valid_time(rec.get("created_at")):
        if rec.get("created_at") is not None:
            fixed.append(f"created_at {_shown(rec['created_at'])} is not a valid time")
        rec["created_at"] = 0.0
    if not isinstance(rec.get("id"), str):
        if rec.get("id") is not None:
            fixed.append(f"id {_shown(rec['id'])} is not text")
        rec["id"] = f"m-seq{rec['seq']}"
    for key in ("reasoning", "model", "error", "error_type", "refusal"):
        if key in rec and rec[key] is not None and not isinstance(rec[key], str):
            fixed.append(f"{key} {_shown(rec[key])} is not text")
            rec[key] = str(rec[key])
    if rec.get("role") == "assistant" and rec.get("status") not in ("complete", "interrupted", "error"):
        if rec.get("status") is not None:
            fixed.append(f"status {_shown(rec['status'])} is unknown (read as interrupted)")
        rec["status"] = "interrupted"
    if "queue_ids" in rec and not (isinstance(rec["queue_ids"], list) and all(isinstance(q, str) for q in rec["queue_ids"])):
        fixed.append("queue_ids is not a list of ids")
        rec["queue_ids"] = []
    usage = rec.get("usage")
    if "usage" in rec and not (isinstance(usage, dict) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in usage.values())):
        fixed.append(f"usage {_shown(usage)} is not a table of token counts")
        del rec["usage"]
    if "attachments" in rec:
        refs = _refs(rec["attachments"])
        if len(refs) != (len(rec["attachments"]) if isinstance(rec["attachments"], list) else -1):
            fixed.append("attachments is not a list of attachment references")
        rec["attachments"] = refs
    for key in ("tool_calls", "citations"):  # lists of objects; anything else is dropped
        if key in rec:
            items = rec[key]
            rec[key] = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    return fixed


def _refs(value: Any) -> list[dict[str, Any]]:
    """The attachment references of a message or queue item (``{"id", "name", "mime", "kind",
    "size"}``); anything else is left out (the request builder checks the blobs themselves)."""
    if not isinstance(value, list):
        return []
    return [r for r in value if isinstance(r, dict) and isinstance(r.get("id"), str) and isinstance(r.get("name"), str)
            and r.get("kind") in ("text", "image", "pdf")]


def _shown(value: Any, limit: int = 40) -> str:
    """A bad value, short and on one line, for a warning."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class WorkspaceStore:
    """One workspace's folder. Not thread-safe by itself: the manager serialises its writes."""

    def __init__(self, folder: Path, ws_id: str):
        self.folder = folder
        self.id = ws_id
        self.chat = folder / "chat.jsonl"
        self.partial = folder / "partial.json"
        self.queue_file = folder / "queue.json"
        self.meta_file = folder / "meta.json"
        self.settings_file = folder / "settings.json"
        self._stream_fd: int | None = None
        # Cache of (file size, max seq) so appends need not rescan the file unless another
        # process appended since our last look.
        self._known_size = -1
        self._max_seq = 0

    # ---- locks --------------------------------------------------------------------------
    def try_lock_stream(self) -> bool:
        if self._stream_fd is not None:
            return True
        fd = _flock(self.folder / "stream.lock", blocking=False)
        if fd is None:
            return False
        self._stream_fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass
        return True

    def unlock_stream(self) -> None:
        if self._stream_fd is not None:
            fd, self._stream_fd = self._stream_fd, None
            _unflock(fd)

    def stream_lock_holder(self) -> str:
        try:
            return (self.folder / "stream.lock").read_text().strip() or "?"
        except OSError:
            return "?"

    # ---- history ------------------------------------------------------------------------
    def load_history(self) -> History:
        messages: list[dict[str, Any]] = []
        warnings: list[str] = []
        max_seq = 0
        try:
            data = self.chat.read_bytes()
        except FileNotFoundError:
            data = b""
        lineno = 0
        for raw in data.split(b"\n"):
            lineno += 1
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode("utf-8"))
                if not isinstance(rec, dict):
                    raise ValueError("not an object")
            except (ValueError, UnicodeDecodeError) as exc:
                warnings.append(f"{self.chat}: line {lineno} is damaged ({exc}); skipped, kept in the file")
                continue
            seq = rec.get("seq")
            if isinstance(seq, int) and not isinstance(seq, bool) and seq > max_seq:
                max_seq = seq  # counted even for records we skip, so a seq never repeats
            version = rec.get("v", 1)
            if not isinstance(version, int) or version > FORMAT_VERSION:
                warnings.append(
                    f"{self.chat}: line {lineno} has format version {version!r}, newer than this muxtui "
                    f"({FORMAT_VERSION}); skipped, kept in the file"
                )
                continue
            kind = rec.get("kind", "message")
            if kind == "truncate":
                cut = rec.get("from_seq")
                if isinstance(cut, int):
                    messages = [m for m in messages if m["seq"] < cut]
                continue
            if kind != "message" or not isinstance(seq, int) or rec.get("role") not in ("user", "assistant", "system"):
                warnings.append(f"{self.chat}: line {lineno} is not a valid message; skipped, kept in the file")
                continue
            fixed = _coerce_message(rec)
            if fixed:
                warnings.append(f"{self.chat}: line {lineno}: {'; '.join(fixed)}; repaired on reading, "
                                "the file is unchanged")
            messages.append(rec)
        self._known_size = len(data)
        self._max_seq = max(self._max_seq, max_seq)
        for w in warnings:
            log.warning(w)
        return History(messages, self._max_seq, warnings)

    def last_message(self, tail_bytes: int = 65536) -> dict[str, Any] | None:
        """The conversation's last message, reading only the file's tail where that is enough
        (start-up badges for hundreds of long workspaces)."""
        try:
            size = self.chat.stat().st_size
        except FileNotFoundError:
            return None
        if size > tail_bytes:
            with open(self.chat, "rb") as f:
                f.seek(size - tail_bytes)
                lines = f.read().split(b"\n")[1:]  # the first line is probably cut
            for raw in reversed(lines):
                try:
                    rec = json.loads(raw.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    continue
                if not isinstance(rec, dict) or not isinstance(rec.get("v", 1), int) or rec.get("v", 1) > FORMAT_VERSION:
                    continue
                if rec.get("kind", "message") != "message":
                    break  # a truncation marker: only a full read knows what is left
                if isinstance(rec.get("seq"), int) and rec.get("role") in ("user", "assistant", "system"):
                    _coerce_message(rec)
                    return rec
        messages = self.load_history().messages
        return messages[-1] if messages else None

    def _refresh_max_seq(self) -> None:
        try:
            size = self.chat.stat().st_size
        except FileNotFoundError:
            size = 0
        if size != self._known_size:
            self.load_history()

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append one record (message or marker) with the next seq; fsync before returning."""
        fd = _flock(self.folder / "write.lock", blocking=True)
        try:
            self._refresh_max_seq()
            record = dict(record)
            record.setdefault("v", FORMAT_VERSION)
            record.setdefault("kind", "message")
            record["seq"] = self._max_seq + 1
            line = atomic.encode_json(record) + b"\n"
            out = os.open(self.chat, os.O_WRONLY | os.O_APPEND | os.O_CREAT, atomic.FILE_MODE)
            try:
                size = os.fstat(out).st_size
                if size:
                    # A crash can leave a torn last line; never glue a new record onto it.
                    with open(self.chat, "rb") as f:
                        f.seek(size - 1)
                        if f.read(1) != b"\n":
                            line = b"\n" + line
                # All or nothing: a full disk leaves the file exactly as it was (no torn line).
                self._known_size = atomic.append_all(out, line, "append")
            finally:
                os.close(out)
            self._max_seq = record["seq"]
            return record
        finally:
            _unflock(fd)

    def append_truncate(self, from_seq: int) -> dict[str, Any]:
        return self.append({"kind": "truncate", "from_seq": from_seq, "created_at": now()})

    # ---- partial ------------------------------------------------------------------------
    def write_partial(self, partial: dict[str, Any]) -> None:
        atomic.write_json(self.partial, {"v": FORMAT_VERSION, **partial}, "partial")

    def read_partial(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.partial.read_bytes())
            if not isinstance(data, dict) or not isinstance(data.get("content", ""), str):
                raise ValueError("not a partial reply object")
            return data
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError) as exc:
            kept = atomic.keep_aside(self.partial)
            log.warning("%s is damaged (%s); kept as %s", self.partial, exc, kept)
            return {"damaged": str(kept)}

    def clear_partial(self) -> None:
        try:
            os.unlink(self.partial)
            atomic.fsync_dir(self.folder)
        except FileNotFoundError:
            pass

    # ---- queue --------------------------------------------------------------------------
    def load_queue(self) -> tuple[list[dict[str, Any]], list[str]]:
        try:
            data = json.loads(self.queue_file.read_bytes())
            items = data["items"] if isinstance(data, dict) else None
            if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("text"), str) for i in items):
                raise ValueError("not a queue object")
            out = []
            for i in items:
                item = {"id": str(i.get("id") or new_id("q")), "text": i["text"], "created_at": as_time(i.get("created_at"))}
                refs = _refs(i.get("attachments"))
                if refs:
                    item["attachments"] = refs
                out.append(item)
            return out, []
        except FileNotFoundError:
            return [], []
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            kept = atomic.keep_aside(self.queue_file)
            msg = f"{self.queue_file} is damaged ({exc}); kept as {kept}, queue starts empty"
            log.warning(msg)
            return [], [msg]

    def save_queue(self, items: list[dict[str, Any]]) -> None:
        if not items:
            try:
                os.unlink(self.queue_file)
            except FileNotFoundError:
                pass
            return
        atomic.write_json(self.queue_file, {"v": FORMAT_VERSION, "items": items})

    # ---- meta ---------------------------------------------------------------------------
    def read_meta(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.meta_file.read_bytes())
            return data if isinstance(data, dict) else None
        except (OSError, ValueError, UnicodeDecodeError):
            return None

    def read_settings(self) -> tuple[dict[str, Any], list[str]]:
        """The workspace's request settings; a damaged file is kept aside and reads as none."""
        try:
            data = json.loads(self.settings_file.read_bytes())
            if not isinstance(data, dict) or not isinstance(data.get("settings", {}), dict):
                raise ValueError("not a settings object")
            return dict(data.get("settings", {})), []
        except FileNotFoundError:
            return {}, []
        except (ValueError, UnicodeDecodeError) as exc:
            kept = atomic.keep_aside(self.settings_file)
            msg = f"{self.settings_file} is damaged ({exc}); kept as {kept}, using the defaults"
            log.warning(msg)
            return {}, [msg]

    def write_settings(self, settings: dict[str, Any]) -> None:
        atomic.write_json(self.settings_file, {"v": FORMAT_VERSION, "settings": settings})

    def write_meta(self, info: WorkspaceInfo) -> None:
        atomic.write_json(self.meta_file, {"v": FORMAT_VERSION, "id": info.id, "name": info.name,
                                           "model": info.model, "created_at": info.created_at})


class Storage:
    """All workspaces under one data dir."""

    def __init__(self, data_dir: Path):
        self.root = Path(data_dir)
        self.ws_root = self.root / "workspaces"
        self.trash = self.root / "trash"
        self.registry_file = self.root / "workspaces.json"
        atomic.make_private_dir(self.ws_root)
        self.warnings: list[str] = []

    def _lock_registry(self) -> int:
        fd = _flock(self.root / "registry.lock", blocking=True)
        assert fd is not None
        return fd

    def _read_registry(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.registry_file.read_bytes())
            entries = data["workspaces"]
            if data.get("version", 1) > FORMAT_VERSION:
                raise ValueError(f"format version {data.get('version')} is newer than this muxtui")
            return {e["id"]: e for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            kept = atomic.keep_aside(self.registry_file)
            msg = f"{self.registry_file} is damaged ({exc}); kept as {kept}, rebuilt from workspace folders"
            log.warning(msg)
            self.warnings.append(msg)
            return {}

    def _write_registry(self, entries: dict[str, dict[str, Any]]) -> None:
        atomic.write_json(self.registry_file, {"version": FORMAT_VERSION, "workspaces": list(entries.values())})

    def list_workspaces(self) -> list[WorkspaceInfo]:
        """Registry order; folders the registry misses (or a damaged registry) are folded back in."""
        fd = self._lock_registry()
        try:
            entries = self._read_registry()
            changed = False
            folders = ({p.name for p in self.ws_root.iterdir() if p.is_dir() and not p.name.startswith(".")}
                       if self.ws_root.exists() else set())
            for ws_id in list(entries):
                if ws_id not in folders:
                    del entries[ws_id]
                    changed = True
            result: list[WorkspaceInfo] = []
            extra: list[WorkspaceInfo] = []
            for ws_id in list(entries) + sorted(folders - set(entries)):
                store = WorkspaceStore(self.ws_root / ws_id, ws_id)
                meta = store.read_meta()
                entry = entries.get(ws_id, {})
                if meta is None:
                    meta = {"name": entry.get("name") or f"recovered {ws_id[:8]}", "model": entry.get("model", ""),
                            "created_at": entry.get("created_at") or now()}
                    store.write_meta(WorkspaceInfo(ws_id, clean_name(meta["name"]), meta["model"], meta["created_at"]))
                info = WorkspaceInfo(ws_id, clean_name(meta.get("name", "")), str(meta.get("model", "")),
                                     as_time(meta.get("created_at")), as_time(entry.get("last_activity")),
                                     _str_or_none(entry.get("last_status")), _str_or_none(entry.get("last_error_type")))
                (result if ws_id in entries else extra).append(info)
            if extra:
                extra.sort(key=lambda i: i.created_at)
                for info in extra:
                    entries[info.id] = info.to_dict()
                changed = True
            if changed:
                self._write_registry(entries)
            return result + extra
        finally:
            _unflock(fd)

    def create_workspace(self, name: str, model: str) -> WorkspaceInfo:
        ws_id = f"w{int(now()):x}{secrets.token_hex(3)}"
        info = WorkspaceInfo(ws_id, clean_name(name), model, now(), now())
        folder = self.ws_root / ws_id
        # Made aside and renamed into place: a listing by another thread or process never meets
        # the folder without its meta.json (it would name it "recovered …" and overwrite it).
        # (Beside the workspaces folder, not in it: its mtime, which the app watches, then
        # changes once, when the workspace is complete.)
        staging = self.root / "new" / ws_id
        atomic.make_private_dir(staging)
        atomic.make_private_dir(self.ws_root)
        WorkspaceStore(staging, ws_id).write_meta(info)
        os.rename(staging, folder)
        fd = self._lock_registry()
        try:
            entries = self._read_registry()
            entries[ws_id] = info.to_dict()
            self._write_registry(entries)
        finally:
            _unflock(fd)
        return info

    def update_workspace(self, ws_id: str, **changes: Any) -> WorkspaceInfo:
        store = self.store(ws_id)
        fd = self._lock_registry()
        try:
            meta = store.read_meta() or {}  # inside the lock: a concurrent rename must not be undone
            entries = self._read_registry()
            entry = entries.get(ws_id, {"id": ws_id})
            info = WorkspaceInfo(ws_id, clean_name(meta.get("name", entry.get("name", ""))),
                                 str(meta.get("model", entry.get("model", ""))),
                                 as_float(meta.get("created_at", entry.get("created_at")), now()),
                                 as_float(entry.get("last_activity")),
                                 _str_or_none(entry.get("last_status")), _str_or_none(entry.get("last_error_type")))
            if "name" in changes:
                info.name = clean_name(changes["name"])
            if "model" in changes:
                info.model = str(changes["model"])
            if "last_activity" in changes:
                info.last_activity = float(changes["last_activity"])
            if "last_status" in changes:
                info.last_status = changes["last_status"]
                info.last_error_type = changes.get("last_error_type")
            if "name" in changes or "model" in changes:
                store.write_meta(info)
            entries[ws_id] = info.to_dict()
            self._write_registry(entries)
            return info
        finally:
            _unflock(fd)

    def delete_workspace(self, ws_id: str) -> Path:
        """Move the folder to trash/ (kept, not destroyed) and drop it from the registry."""
        folder = self.ws_root / ws_id
        atomic.make_private_dir(self.trash)
        target = self.trash / f"{ws_id}-{int(now())}"
        fd = self._lock_registry()
        try:
            if folder.exists():
                os.replace(folder, target)
            entries = self._read_registry()
            entries.pop(ws_id, None)
            self._write_registry(entries)
        finally:
            _unflock(fd)
        return target

    def purge_trash(self, older_than_s: float = 30 * 86400) -> None:
        if not self.trash.exists():
            return
        for p in self.trash.iterdir():
            try:
                if now() - p.stat().st_mtime > older_than_s:
                    shutil.rmtree(p)
            except OSError:
                pass

    def store(self, ws_id: str) -> WorkspaceStore:
        if not ws_id or "/" in ws_id or ws_id in (".", "..") or "\x00" in ws_id:
            raise StorageError(f"invalid workspace id {ws_id!r}")
        return WorkspaceStore(self.ws_root / ws_id, ws_id)

    def resolve(self, name_or_id: str) -> WorkspaceInfo | None:
        workspaces = self.list_workspaces()
        for info in workspaces:
            if info.id == name_or_id:
                return info
        name = clean_name(name_or_id)  # as names are stored
        for info in workspaces:
            if info.name == name:
                return info
        return None
