"""Atomic whole-file writes: temp file in the same folder, flush, fsync, os.replace.

Every rewrite of a whole file (partial, queue, registry, config) goes through here; history
is append-only and never rewritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
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
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: object) -> None:
    write_bytes(path, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


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
