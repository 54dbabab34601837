"""Attaching files, on the client's side (the app and `muxtui send -a`): no Textual here.

Owns: reading a file the user names into an ``Attachment`` (``read_attachment``: kind from its
bytes, the ``[attachments]`` size limits, a clear ``AttachmentError`` for a missing, unreadable,
binary or too big file), a long paste turned into an attachment (``text_attachment``), the
``@path`` tokens of a composer's text (``find_at_paths``) and their completion
(``complete_path``), and handing an attachment to the engine (``upload``: the
``store_attachment`` command, base64, so it also works over the engine socket and ``--remote``; the file is on the
client's machine, the engine may not see it).

The rules themselves (sniffing, limits, names, the blob store) are the engine's:
``muxtui.engine.attachments``.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

from muxtui.engine.attachments import (
    DEFAULT_LIMITS,
    Attachment,
    AttachmentError,
    Limits,
    check_size,
    image_mime,
    megabytes,
    safe_name,
    sniff,
)

__all__ = [
    "Attachment", "AttachmentError", "Limits", "complete_path", "describe", "find_at_paths", "limits_of", "read_attachment",
    "text_attachment", "upload",
]

SCAN_MAX = 5000  # directory entries looked at per completion (a huge folder stays quick)
_AT = re.compile(r"(?:(?<=\s)|^)@(\S+)")
_TRAILING = ",.;:!?)]}'\""


def limits_of(limits: Any = None) -> Limits:
    """``Limits`` from None (the defaults), a ``Limits`` or anything with ``max_*_mb`` (the
    config's ``[attachments]``)."""
    if limits is None:
        return DEFAULT_LIMITS
    if isinstance(limits, Limits):
        return limits
    return Limits(*(float(getattr(limits, k, getattr(DEFAULT_LIMITS, k)))
                    for k in ("max_text_mb", "max_image_mb", "max_pdf_mb")))


def _head_kind(head: bytes) -> str | None:
    """"image" or "pdf" from a file's first bytes, else None (text or another binary)."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    return "image" if image_mime(head[:16]) else None


def read_attachment(path: str | Path, *, limits: Any = None) -> Attachment:
    """Read a file to attach. AttachmentError (a ValueError whose message is for the user) when
    it is missing, a folder, unreadable, a binary that is not an image or a PDF, or too big."""
    lim = limits_of(limits)
    p = Path(os.path.expanduser(str(path)))
    name = safe_name(p.name)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise AttachmentError(f"{name}: no such file ({_shown(path)})") from None
    except OSError as exc:
        raise AttachmentError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if p.is_dir():
        raise AttachmentError(f"{name} is a folder: attach the files in it one by one")
    if not p.is_file():
        raise AttachmentError(f"{name} is not a regular file")
    most = max(lim.bytes_for(k) for k in ("text", "image", "pdf"))
    try:
        with open(p, "rb") as f:
            head = f.read(1024)
            kind = _head_kind(head)
            if kind is not None:
                check_size(name, kind, st.st_size, lim)
            elif st.st_size > lim.bytes_for("text"):
                if b"\x00" in head:
                    sniff(name, head)  # raises: a binary that is not an image or a PDF
                check_size(name, "text", st.st_size, lim)
            rest = f.read(most + 1 - len(head))
    except PermissionError:
        raise AttachmentError(f"{name}: cannot read (permission denied)") from None
    except OSError as exc:
        raise AttachmentError(f"{name}: cannot read ({exc.strerror or exc})") from None
    data = head + rest
    kind, mime = sniff(name, data)
    check_size(name, kind, len(data), lim)  # the file may have grown since stat
    return Attachment(name, mime, kind, data)


def text_attachment(name: str, text: str) -> Attachment:
    """A long paste as a text attachment (its name as shown on the chip, e.g. "pasted-1.txt")."""
    data = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")
    return Attachment(safe_name(name or "pasted.txt"), "text/plain", "text", data)


def _shown(path: Any) -> str:
    text = str(path)
    return text if len(text) <= 120 else "…" + text[-119:]


def _resolve(token: str, cwd: Path) -> Path | None:
    try:
        p = Path(os.path.expanduser(token))
        p = p if p.is_absolute() else cwd / p
        return p if p.is_file() else None
    except (OSError, ValueError):
        return None


def find_at_paths(text: str, cwd: Path) -> list[tuple[int, int, Path]]:
    """The ``@path`` tokens of ``text`` that name existing files: (start of the "@", end, path).
    ``@alice`` stays text when there is no such file; trailing punctuation ("see @a.py.") is
    dropped when the file is named without it."""
    found: list[tuple[int, int, Path]] = []
    for m in _AT.finditer(text):
        token, start, end = m.group(1), m.start(), m.end()
        path = _resolve(token, cwd)
        while path is None and token and token[-1] in _TRAILING:
            token, end = token[:-1], end - 1
            path = _resolve(token, cwd) if token else None
        if path is not None:
            found.append((start, end, path))
    return found


def complete_path(prefix: str, cwd: Path, limit: int = 50) -> list[str]:
    """Completions of a path being typed (after the "@"), sorted: folders end with "/", hidden
    entries only when the typed name starts with "."; at most ``limit``, and a huge folder is
    scanned only so far (SCAN_MAX entries)."""
    head, _, stem = prefix.rpartition("/")
    folder_text = head + "/" if "/" in prefix else ""
    base = Path(os.path.expanduser(folder_text or "."))
    folder = base if base.is_absolute() else cwd / base
    out: list[tuple[str, str]] = []
    try:
        with os.scandir(folder) as entries:
            for n, entry in enumerate(entries):
                if n >= SCAN_MAX:
                    break
                name = entry.name
                if not name.startswith(stem) or (name.startswith(".") and not stem.startswith(".")):
                    continue
                try:
                    is_dir = entry.is_dir()
                except OSError:
                    is_dir = False
                out.append((name.lower(), folder_text + name + ("/" if is_dir else "")))
    except OSError:
        return []
    out.sort()
    return [full for _, full in out[:max(0, limit)]]


async def upload(engine: Any, attachment: Attachment) -> dict[str, Any]:
    """Store the attachment in the engine (``store_attachment``, base64); the reference to send with."""
    data = base64.b64encode(attachment.data).decode("ascii")
    return await engine.store_attachment(name=attachment.name, data=data, mime=attachment.mime, kind=attachment.kind)


def describe(ref: dict[str, Any]) -> str:
    """A chip's text: "photo.png · image · 1.2 MB"."""
    return f"{safe_name(ref.get('name'))} · {ref.get('kind')} · {megabytes(int(ref.get('size') or 0))}"
