"""What the real APIs accept as a message's content, checked by the fake server: a string, or a
list of typed parts (text, images, Anthropic documents), each of the family's own shape.

- Chat Completions: ``{"type": "text", "text"}``, ``{"type": "image_url", "image_url": {"url"}}``
  (an https URL or a ``data:image/...;base64,`` URL);
- Responses: ``{"type": "input_text", "text"}``, ``{"type": "input_image", "image_url"}``
  (assistant turns may also be ``output_text``);
- Anthropic: ``{"type": "text", "text"}`` (not empty), ``{"type": "image", "source": {"type":
  "base64", "media_type", "data"}}``, ``{"type": "document", "source": {"type": "base64",
  "media_type": "application/pdf", "data"}}``.

A broken part is answered with a 400 naming it, as the APIs do; ``content_chars`` is the
request's size in characters for the usage the server reports, an image counted as a fixed cost.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

__all__ = ["IMAGE_CHARS", "content_chars", "content_problem"]

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
IMAGE_CHARS = 3000  # what an image adds to the reported input (about 750 tokens)
_DATA_URL = re.compile(r"^data:(image/[a-z]+);base64,(.*)$", re.S)


def _bad_base64(data: Any) -> bool:
    if not isinstance(data, str) or not data:
        return True
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return True
    return False


def _url_problem(url: Any, where: str) -> str | None:
    if not isinstance(url, str):
        return f"{where}: image url must be a string"
    if url.startswith(("https://", "http://")):
        return None
    m = _DATA_URL.match(url)
    if m is None:
        return f"{where}: invalid image URL (expected https:// or data:image/...;base64,...)"
    if m.group(1) not in IMAGE_TYPES:
        return f"{where}: unsupported image type {m.group(1)!r}"
    if _bad_base64(m.group(2)):
        return f"{where}: the image's base64 data is invalid"
    return None


def _openai_part(part: dict, where: str) -> str | None:
    kind = part.get("type")
    if kind == "text":
        return None if isinstance(part.get("text"), str) else f"{where}.text: must be a string"
    if kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, dict):
            return f"{where}.image_url: must be an object with url"
        return _url_problem(image.get("url"), f"{where}.image_url.url")
    return f"{where}.type: invalid content part type {kind!r}"


def _responses_part(part: dict, where: str, role: str) -> str | None:
    kind = part.get("type")
    if kind == "input_text" or (kind == "output_text" and role == "assistant"):
        return None if isinstance(part.get("text"), str) else f"{where}.text: must be a string"
    if kind == "input_image" and role == "user":
        if "file_id" in part:
            return None
        if "detail" in part and part["detail"] not in ("low", "high", "auto"):
            return f"{where}.detail: must be low, high or auto"
        return _url_problem(part.get("image_url"), f"{where}.image_url")
    return f"{where}.type: invalid content type {kind!r} for a {role} message"


def _source_problem(source: Any, where: str, types: tuple[str, ...]) -> str | None:
    if not isinstance(source, dict) or source.get("type") != "base64":
        return f"{where}.source: expected a base64 source"
    if source.get("media_type") not in types:
        return f"{where}.source.media_type: must be one of {', '.join(types)}"
    if _bad_base64(source.get("data")):
        return f"{where}.source.data: invalid base64 data"
    return None


def _anthropic_part(part: dict, where: str) -> str | None:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str) or not text:
            return f"{where}: text content blocks must be non-empty"
        return None
    if kind == "image":
        return _source_problem(part.get("source"), where, IMAGE_TYPES)
    if kind == "document":
        return _source_problem(part.get("source"), where, ("application/pdf",))
    if kind in ("tool_use", "tool_result", "thinking", "redacted_thinking"):
        return None  # not checked here
    return f"{where}.type: unexpected content block type {kind!r}"


def content_problem(protocol: str, content: Any, where: str, role: str = "user") -> str | None:
    """Why the API would refuse this message content, or None."""
    if isinstance(content, str):
        return None
    if not isinstance(content, list) or not content:
        return f"{where}.content: must be a string or a non-empty list of content parts"
    for n, part in enumerate(content):
        at = f"{where}.content.{n}"
        if not isinstance(part, dict):
            return f"{at}: must be an object"
        if protocol == "openai":
            problem = _openai_part(part, at)
        elif protocol == "responses":
            problem = _responses_part(part, at, role)
        else:
            problem = _anthropic_part(part, at)
        if problem:
            return problem
    return None


def content_chars(content: Any) -> int:
    """Characters of a message's content, an image or a document as IMAGE_CHARS."""
    if isinstance(content, str):
        return len(content)
    if not isinstance(content, list):
        return len(str(content))
    total = 0
    for part in content:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            total += len(part["text"])
        else:
            total += IMAGE_CHARS
    return total
