"""Atomic whole-file writes, all-or-nothing appends, and the write fault hook.

Every rewrite of a whole file (partial, queue, registry, config) goes through ``write_bytes``:
temp file in the same folder, flush, fsync, os.replace. Appends (history, logs) go through
``append_all``: the record is written whole or the file is cut back to its old size, so a full
disk never leaves a torn line. Every byte written passes ``write_all``, where ``FAULTS`` can
inject a disk-full failure for tests (in-process, or ``MUXTUI_TEST_WRITE_FAULTS`` for a
subprocess).
"""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

from muxtui.surrogates import fix_surrogates

FILE_MODE = 0o600
DIR_MODE = 0o700


class WriteFaults:
    """Injected disk-full failures, by kind of write: "append" (history), "partial"
    (partial.json), "rewrite" (other whole files: queue, registry, meta), "log" (audit and
    error logs). An armed write really writes half of its bytes, then raises ENOSPC, as a
    filling disk does. Thread-safe (writes run in threads).

    ``MUXTUI_TEST_WRITE_FAULTS="append@1:3,log"`` arms a subprocess: KIND[@SKIP][:COUNT] lets
    SKIP writes of that kind through, then fails COUNT of them (no COUNT: every one after).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, list[float]] = {}  # kind -> [skip, count]
        self.injected = 0

    def arm(self, kind: str, count: float = float("inf"), skip: int = 0) -> None:
        with self._lock:
            self._armed[kind] = [skip, count]

    def disarm(self, kind: str | None = None) -> None:
        """The disk has room again."""
        with self._lock:
            if kind is None:
                self._armed.clear()
            else:
                self._armed.pop(kind, None)

    def take(self, kind: str) -> bool:
        if not self._armed:
            return False
        with self._lock:
            state = self._armed.get(kind)
            if state is None:
                return False
            if state[0] > 0:
                state[0] -= 1
                return False
            state[1] -= 1
            if state[1] <= 0:
                del self._armed[kind]
            self.injected += 1
            return True

    def arm_from_env(self, spec: str) -> None:
        for part in filter(None, (p.strip() for p in spec.split(","))):
            kind, _, count = part.partition(":")
            kind, _, skip = kind.partition("@")
            self.arm(kind, float(count) if count else float("inf"), int(skip or 0))


FAULTS = WriteFaults()
if os.environ.get("MUXTUI_TEST_WRITE_FAULTS"):
    FAULTS.arm_from_env(os.environ["MUXTUI_TEST_WRITE_FAULTS"])


def write_all(fd: int, data: bytes, kind: str) -> None:
    """Write every byte or raise; a short write is retried (bounded: each round makes
    progress or raises), a write of nothing is a full disk."""
    view = memoryview(data)
    if view and FAULTS.take(kind):
        os.write(fd, view[: max(1, len(view) // 2)])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + " (injected)")
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def append_all(fd: int, data: bytes, kind: str, *, sync: bool = True) -> int:
    """Append ``data`` to the O_APPEND file ``fd`` (and fsync it), all or nothing: on any
    failure the file is cut back to the size it had, so it never ends in a torn record. The
    caller holds the file's lock. Returns the new size."""
    old = os.fstat(fd).st_size
    try:
        write_all(fd, data, kind)
        if sync:
            os.fsync(fd)
    except BaseException:
        try:
            os.ftruncate(fd, old)
        except OSError:
            pass  # readers skip a torn last line and the next append starts on a new line
        raise
    return os.fstat(fd).st_size


def encode_json(obj: object) -> bytes:
    """Compact UTF-8 JSON; a lone surrogate anywhere becomes U+FFFD instead of an error."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return fix_surrogates(text).encode("utf-8")


_path_locks: dict[str, threading.Lock] = {}
_path_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _path_locks_guard:
        lock = _path_locks.get(str(path))
        if lock is None:
            if len(_path_locks) > 4096:  # bounded: locks of files nobody writes now are dropped
                for key, old in list(_path_locks.items()):
                    if not old.locked():
                        del _path_locks[key]
            lock = _path_locks[str(path)] = threading.Lock()
        return lock


def write_bytes(path: Path, data: bytes, kind: str = "rewrite") -> None:
    path = Path(path)
    # One writer per file in this process: two threads rewriting one file would share the temp
    # file below, and one rename would fail (FileNotFoundError) or publish the other's bytes.
    with _lock_for(path):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            write_all(fd, data, kind)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        os.close(fd)
        os.replace(tmp, path)
    fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, fix_surrogates(text).encode("utf-8"))


def write_json(path: Path, obj: object, kind: str = "rewrite") -> None:
    write_bytes(path, encode_json(obj), kind)


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_private_dir(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)


def keep_aside(path: Path, suffix: str = "corrupt") -> Path | None:
    """Move a damaged file out of the way (never delete it) and return where it went."""
    if not path.exists():
        return None
    n = 0
    while True:
        target = path.with_name(f"{path.name}.{suffix}{'' if n == 0 else f'.{n}'}")
        if not target.exists():
            break
        n += 1
    os.replace(path, target)
    return target
