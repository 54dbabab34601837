"""Attachments: what a file is (text, image, PDF), the size limits, and the blobs on disk.

Owns: sniffing a file's kind and type from its bytes (``sniff``: images by their magic bytes,
PDFs by ``%PDF``, text when it decodes as UTF-8 without NULs; any other binary is refused with a
message that says so), the per-kind size limits of ``[attachments]`` (``check_size``), display
names that stay harmless (``safe_name``: no path, no control characters), the reference a
message carries (``make_ref`` / ``check_ref``: ``{"id", "name", "mime", "kind", "size"}``) and
the blob store (``Blobs``): every attachment's bytes once, under ``data/attachments/ab/<sha256>``,
written atomically and never twice (docs/storage.md).

No Textual, no network: the client (``muxtui.client.attachments``) reads files with these rules,
the engine stores what clients upload (``Engine.store_attachment``), and the request builder
(``muxtui.engine.providers.parts``) loads the bytes back.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muxtui.atomic import make_private_dir, write_bytes

__all__ = [
    "DEFAULT_LIMITS", "IMAGE_MIMES", "KINDS", "Attachment", "AttachmentError", "Blobs", "Limits", "check_ref",
    "check_size", "image_mime", "make_ref", "megabytes", "safe_name", "sniff",
]

KINDS = ("text", "image", "pdf")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
NAME_MAX = 200


class AttachmentError(ValueError):
    """A file that cannot be attached; the message is for the user ("photo.png is 31.2 MB; ...")."""


@dataclass(frozen=True, slots=True)
class Limits:
    """``[attachments]`` size limits, in MB (10**6 bytes), per kind."""

    max_text_mb: float = 2.0
    max_image_mb: float = 20.0
    max_pdf_mb: float = 32.0

    def bytes_for(self, kind: str) -> int:
        return int({"text": self.max_text_mb, "image": self.max_image_mb, "pdf": self.max_pdf_mb}[kind] * 1_000_000)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file read for attaching: its display name, type, kind ("text" | "image" | "pdf") and bytes."""

    name: str
    mime: str
    kind: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def megabytes(n: int) -> str:
    """31_200_000 → "31.2 MB" (decimal megabytes, as file managers show them)."""
    if n < 1_000_000:
        return f"{n / 1000:.1f} kB" if n >= 1000 else f"{n} bytes"
    return f"{n / 1_000_000:.1f} MB"


def _limit_text(limit_mb: float) -> str:
    return f"{limit_mb:g} MB"


def safe_name(name: Any) -> str:
    """A display name that cannot break a line, a path or a fence header: the last path part,
    control and format characters dropped, at most NAME_MAX characters ("attachment" if empty)."""
    text = str(name or "")
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" and ch not in "`")
    text = " ".join(text.split())[:NAME_MAX]
    return text if text.strip(".") else "attachment"  # "", "." and ".." name nothing


def image_mime(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _text_mime(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name, strict=False)
    if guessed and (guessed.startswith("text/") or guessed.endswith(("json", "xml", "yaml", "javascript", "toml",
                                                                      "sql", "x-sh", "x-python"))):
        return guessed
    return "text/plain"


def sniff(name: str, data: bytes) -> tuple[str, str]:
    """(kind, mime) of a file from its bytes (and its name, for a text file's type); an
    AttachmentError for a binary that is neither an image muxtui sends nor a PDF."""
    mime = image_mime(data[:16])
    if mime:
        return "image", mime
    if data[:1024].lstrip(b"\r\n\t \x00\xef\xbb\xbf").startswith(b"%PDF-") or data.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return "text", _text_mime(name)
    what = mimetypes.guess_type(name, strict=False)[0] or "binary data"
    raise AttachmentError(f"{safe_name(name)} is {what}: only text files (UTF-8), images (PNG, JPEG, GIF, WebP) "
                          "and PDFs can be attached")


def check_size(name: str, kind: str, size: int, limits: Limits | None = None) -> None:
    """AttachmentError when ``size`` is over the ``[attachments]`` limit for ``kind``."""
    limits = limits or DEFAULT_LIMITS
    most = limits.bytes_for(kind)
    if size > most:
        key = f"max_{kind}_mb"
        plural = {"text": "text files", "image": "images", "pdf": "PDFs"}[kind]
        raise AttachmentError(f"{safe_name(name)} is {megabytes(size)}; the limit for {plural} is "
                              f"{_limit_text(getattr(limits, key))} ([attachments] {key})")


def make_ref(digest: str, name: str, mime: str, kind: str, size: int) -> dict[str, Any]:
    return {"id": digest, "name": safe_name(name), "mime": mime, "kind": kind, "size": size}


class Blobs:
    """The blob store: ``<data>/attachments/<first two hex digits>/<sha256>``, 0600 in 0700 folders."""

    def __init__(self, data_dir: Path):
        self.root = Path(data_dir) / "attachments"

    def path(self, digest: str) -> Path:
        if not _HEX64.match(digest or ""):
            raise ValueError(f"not an attachment id: {str(digest)[:80]!r}")
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        try:
            return self.path(digest).is_file()
        except ValueError:
            return False

    def save(self, data: bytes) -> tuple[str, bool]:
        """Store ``data`` once; its sha256 and whether it was new. Blocking (run it in a thread)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        try:
            if path.stat().st_size == len(data):
                return digest, False  # already here (same hash, same size): not written twice
        except FileNotFoundError:
            pass
        make_private_dir(self.root)
        make_private_dir(path.parent)
        write_bytes(path, data, kind="rewrite")
        return digest, True

    def read(self, digest: str) -> bytes:
        """The blob's bytes, checked against its hash (blocking). FileNotFoundError when it is
        gone; ValueError when its bytes no longer match (damaged)."""
        data = self.path(digest).read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise ValueError("damaged (its bytes no longer match its hash)")
        return data


def check_ref(ref: Any, blobs: Blobs) -> dict[str, Any]:
    """A reference a client sent with a message, checked and normalised: an existing blob, a
    known kind, a harmless name. ValueError says what is wrong."""
    if not isinstance(ref, dict):
        raise ValueError(f"an attachment must be an object from `store_attachment`, got {type(ref).__name__}")
    digest = ref.get("id")
    if not isinstance(digest, str) or not _HEX64.match(digest):
        raise ValueError(f"unknown attachment id {str(digest)[:80]!r}: attach the file again")
    try:
        size = blobs.path(digest).stat().st_size
    except FileNotFoundError:
        raise ValueError(f"unknown attachment id {digest[:12]}…: attach the file again") from None
    kind = ref.get("kind")
    if kind not in KINDS:
        raise ValueError(f"attachment {safe_name(ref.get('name'))}: kind must be one of {', '.join(KINDS)}")
    mime = ref.get("mime")
    if kind == "image" and mime not in IMAGE_MIMES:
        raise ValueError(f"attachment {safe_name(ref.get('name'))}: not an image type muxtui sends ({mime!r})")
    if kind == "pdf":
        mime = "application/pdf"
    if kind == "text" and (not isinstance(mime, str) or not re.match(r"^[\w.+-]+/[\w.+-]+$", mime) or len(mime) > 100):
        mime = "text/plain"
    return make_ref(digest, ref.get("name") or "attachment", mime, kind, size)
