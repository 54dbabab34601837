"""Attachments in a request: loading their bytes, and the content shapes of each API family.

Owns: which models take images (``takes_images``: ``[attachments] image_models`` /
``text_only_models``, then a built-in table of text-only model families; a model in neither is
assumed to take them, and its provider's error says otherwise); refusing a message with an image
for a model that does not (``refuse_images``, at send); loading a conversation's attachments for
one request (``load``: the blobs read with aiofiles and checked against their hash, a PDF's text
extracted with pypdf where the provider does not take PDFs, an image of an earlier turn that the
model cannot take replaced by a note that says so); and the user turn's content per API family:

- text files (and PDFs as text): a fenced block each, with the file's name, before the message's
  text; the fence is longer than any backtick run inside (``fenced``);
- OpenAI Chat Completions: ``[{"type": "text"}, {"type": "image_url", "image_url": {"url": data URL}}]``;
- OpenAI Responses: ``[{"type": "input_text"}, {"type": "input_image", "image_url": data URL, "detail": "auto"}]``;
- Anthropic: ``{"type": "image", "source": {"type": "base64", "media_type", "data"}}`` and PDFs as
  ``{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data"}}``,
  before the text block.

A message without attachments keeps its plain string content: requests of old conversations are
byte for byte what they were.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import io
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from muxtui.engine.attachments import Blobs, megabytes, safe_name
from muxtui.engine.errors import ErrorType, StreamError

__all__ = [
    "ANTHROPIC_IMAGE_MAX", "TEXT_ONLY_MODELS", "Part", "anthropic_content", "fenced", "load", "openai_content",
    "refuse_images", "responses_content", "takes_images", "turn_text",
]

# Model families that take no images, by the model's bare name (fnmatch patterns; the
# provider's prefix and an OpenRouter-style "vendor/" are left out before matching). Sources:
# the providers' model pages (OpenAI: gpt-3.5-turbo, gpt-4 (2023), o1-mini and o3-mini are
# text-only; DeepSeek's chat API models; Meta: Llama 3/3.1/3.3 text models (3.2 11B/90B
# "vision" and Llama 4 take images); Mistral: Codestral, Magistral; Qwen's coder and plain
# text models). A name with "vision", "-vl" or "llava" always takes images.
TEXT_ONLY_MODELS: tuple[str, ...] = (
    "gpt-3.5*", "gpt-4", "gpt-4-0314", "gpt-4-0613", "gpt-4-32k*", "o1-mini*", "o3-mini*",
    "deepseek-chat", "deepseek-reasoner", "deepseek-r1*", "deepseek-v3*", "deepseek-coder*",
    "llama3", "llama3:*", "llama3.1*", "llama3.3*", "llama-3-*", "llama-3.1*", "llama-3.3*", "meta-llama-3*",
    "codestral*", "magistral*", "qwen2.5-coder*", "qwen3-coder*", "qwq*", "phi3*", "phi4", "phi4:*",
)
_VISION_HINTS = re.compile(r"vision|-vl\b|-vl-|vl:|llava|pixtral|gemma3|llama4|llama-4")
ANTHROPIC_IMAGE_MAX = 5 * 1024 * 1024  # the Messages API refuses a larger image (5 MB per image)
_PDF_CACHE_SIZE = 16
_pdf_text_cache: OrderedDict[str, str] = OrderedDict()  # sha256 -> extracted text (one process)
_LANGS = {
    "py": "python", "js": "javascript", "ts": "typescript", "tsx": "tsx", "jsx": "jsx", "rs": "rust", "go": "go",
    "md": "markdown", "json": "json", "toml": "toml", "yaml": "yaml", "yml": "yaml", "sh": "sh", "bash": "bash",
    "c": "c", "h": "c", "cc": "cpp", "cpp": "cpp", "hpp": "cpp", "java": "java", "kt": "kotlin", "rb": "ruby",
    "html": "html", "css": "css", "sql": "sql", "xml": "xml", "csv": "csv", "ini": "ini", "lua": "lua",
    "php": "php", "swift": "swift", "cs": "csharp", "zig": "zig", "hs": "haskell", "ex": "elixir", "txt": "",
}


@dataclass(frozen=True, slots=True)
class Part:
    """One attachment loaded for a request: the bytes, and the text of a text file, a PDF sent as
    text, or a note that stands for what could not be sent (``note``)."""

    name: str
    mime: str
    kind: str
    data: bytes = b""
    text: str | None = None
    note: bool = False


# ---- which models take images -------------------------------------------------------------------

def _bare(model: str) -> str:
    name = model.partition(":")[2] if ":" in model else model
    return name.partition("?")[0].rsplit("/", 1)[-1].strip().lower()


def _matches(patterns: Iterable[str], model: str) -> bool:
    full, name, bare = model.lower(), model.partition(":")[2].lower(), _bare(model)
    return any(fnmatch.fnmatchcase(key, p.lower()) for p in patterns for key in (full, name, bare))


def takes_images(config: Any, model: str) -> bool:
    """Whether ``model`` ("provider:model") takes images: ``[attachments]`` first, then the
    built-in table; a model nobody knows is assumed to (its provider's error says otherwise)."""
    cfg = getattr(config, "attachments", None)
    if cfg is not None and _matches(cfg.image_models, model):
        return True
    if cfg is not None and _matches(cfg.text_only_models, model):
        return False
    if _VISION_HINTS.search(_bare(model)):
        return True
    return not _matches(TEXT_ONLY_MODELS, model)


def refuse_images(config: Any, model: str, refs: Iterable[Mapping[str, Any]]) -> None:
    """ValueError when ``refs`` hold an image and ``model`` does not take images."""
    images = [safe_name(r.get("name")) for r in refs if r.get("kind") == "image"]
    if images and not takes_images(config, model):
        raise ValueError(f"{model} does not take images ({', '.join(images)}): pick a model that does, or, if it "
                         f"does, add it to [attachments] image_models in config.toml")


# ---- loading -------------------------------------------------------------------------------------

async def _read_blob(blobs: Blobs, digest: str) -> bytes:
    import aiofiles  # the async read; the hash check runs in a thread (a 20 MB image)

    async with aiofiles.open(blobs.path(digest), "rb") as f:
        data = await f.read()
    if await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest()) != digest:
        raise ValueError("damaged (its bytes no longer match its hash)")
    return data


def pdf_text(data: bytes) -> str:
    """The text of a PDF (pypdf; blocking), pages apart by a blank line; ValueError when it
    cannot be read."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ValueError("it is encrypted")
        return "\n\n".join((page.extract_text() or "").strip() for page in reader.pages).strip()
    except (PyPdfError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise ValueError(f"not a readable PDF ({type(exc).__name__})") from None


async def _pdf_text_cached(digest: str, data: bytes) -> str:
    text = _pdf_text_cache.get(digest)
    if text is None:
        text = await asyncio.to_thread(pdf_text, data)
        _pdf_text_cache[digest] = text
        while len(_pdf_text_cache) > _PDF_CACHE_SIZE:
            _pdf_text_cache.popitem(last=False)
    else:
        _pdf_text_cache.move_to_end(digest)
    return text


async def load(messages: list[dict[str, Any]], blobs: Blobs, *, config: Any, model: str, native_pdf: bool,
               provider: str | None = None) -> tuple[dict[str, tuple[Part, ...]], list[str]]:
    """The attachments of the messages a request is built from, by message id, and warnings
    (images of earlier turns left out because the model takes none). A missing or damaged blob,
    an unreadable PDF, or an image in the newest user turn for a model without images is a
    StreamError that says which file and what to do."""
    out: dict[str, tuple[Part, ...]] = {}
    warnings: list[str] = []
    images_ok = takes_images(config, model)
    last_user = next((m.get("id") for m in reversed(messages) if m.get("role") == "user"), None)
    for m in messages:
        refs = m.get("attachments")
        if not refs or m.get("role") != "user":
            continue
        loaded: list[Part] = []
        for ref in refs:
            name, kind, digest = safe_name(ref.get("name")), ref.get("kind"), str(ref.get("id"))
            if kind == "image" and not images_ok:
                if m.get("id") == last_user:
                    raise StreamError(ErrorType.API, f"{model} does not take images ({name}): pick a model that "
                                      "does, or edit the message without it", retryable=False, provider=provider)
                loaded.append(Part(name, "text/plain", "text", text=f"[image {name} not sent: {model} takes no images]",
                                   note=True))
                warnings.append(f"{name} (an image of an earlier message) was not sent: {model} takes no images")
                continue
            try:
                data = await _read_blob(blobs, digest)
            except FileNotFoundError:
                raise StreamError(ErrorType.API, f"attachment {name} is missing from the data folder "
                                  f"(attachments/{digest[:2]}/{digest[:12]}…): edit the message and attach it again",
                                  retryable=False, provider=provider) from None
            except (OSError, ValueError) as exc:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise StreamError(ErrorType.API, f"attachment {name} cannot be read ({why}): edit the message and "
                                  "attach it again", retryable=False, provider=provider) from None
            mime = str(ref.get("mime") or "")
            if kind == "text":
                loaded.append(Part(name, mime or "text/plain", "text", data, data.decode("utf-8", "replace")))
            elif kind == "pdf" and not native_pdf:
                try:
                    text = await _pdf_text_cached(digest, data)
                except ValueError as exc:
                    raise StreamError(ErrorType.API, f"{name} cannot be sent as text: {exc}; this provider takes "
                                      "no PDFs", retryable=False, provider=provider) from None
                if not text:
                    text = "(no text could be extracted from this PDF: it may be scanned images)"
                loaded.append(Part(name, "application/pdf", "pdf", data, text))
            else:
                loaded.append(Part(name, mime, str(kind), data))
        out[m["id"]] = tuple(loaded)
    return out, warnings


# ---- content shapes ------------------------------------------------------------------------------

def fenced(name: str, text: str, lang: str = "") -> str:
    """``name:`` then the text in a code fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if not text or text.endswith("\n") else text + "\n"
    return f"{name}:\n{fence}{lang}\n{body}{fence}"


def _lang(name: str) -> str:
    suffix = PurePath(name).suffix.lower().lstrip(".")
    if suffix in _LANGS:
        return _LANGS[suffix]
    return suffix if re.fullmatch(r"[a-z0-9+]{1,10}", suffix) else ""


def turn_text(content: str, parts: Iterable[Part]) -> str:
    """The turn's text: a fenced block per text file (and PDF sent as text), then the message."""
    blocks = []
    for p in parts:
        if p.note:
            blocks.append(p.text or "")
        elif p.kind == "text" and p.text is not None:
            blocks.append(fenced(p.name, p.text, _lang(p.name)))
        elif p.kind == "pdf" and p.text is not None:
            blocks.append(fenced(f"{p.name} (text of the PDF)", p.text))
    if content.strip():
        blocks.append(content)
    return "\n\n".join(blocks)


def _data_url(p: Part) -> str:
    return f"data:{p.mime};base64,{base64.b64encode(p.data).decode('ascii')}"


def _binary(parts: Iterable[Part], kind: str) -> list[Part]:
    return [p for p in parts if p.kind == kind and not p.note and p.text is None]


def openai_content(content: str, parts: tuple[Part, ...]) -> str | list[dict[str, Any]]:
    """Chat Completions: a string, or text and ``image_url`` parts when there are images."""
    if not parts:
        return content
    return _text_and_images(content, parts, lambda text: {"type": "text", "text": text},
                            lambda p: {"type": "image_url", "image_url": {"url": _data_url(p)}})


def responses_content(content: str, parts: tuple[Part, ...], role: str) -> str | list[dict[str, Any]]:
    """Responses API: a string, or ``input_text`` and ``input_image`` parts when there are images."""
    if not parts or role != "user":
        return content
    return _text_and_images(content, parts, lambda text: {"type": "input_text", "text": text},
                            lambda p: {"type": "input_image", "image_url": _data_url(p), "detail": "auto"})


def _text_and_images(content: str, parts: tuple[Part, ...], text_part: Callable[[str], dict[str, Any]],
                     image_part: Callable[[Part], dict[str, Any]]) -> str | list[dict[str, Any]]:
    """The OpenAI families' user turn: its text (files fenced in), then one part per image; a
    plain string when there is no image."""
    text = turn_text(content, parts)
    images = _binary(parts, "image")
    if not images:
        return text
    return ([text_part(text)] if text else []) + [image_part(p) for p in images]


def anthropic_content(content: str, parts: tuple[Part, ...], provider: str | None = None) -> str | list[dict[str, Any]]:
    """Messages API: a string, or image and document blocks followed by the text block."""
    if not parts:
        return content
    text = turn_text(content, parts)
    blocks: list[dict[str, Any]] = []
    for p in parts:
        if p.note or p.text is not None:
            continue
        if p.kind == "image":
            if len(p.data) > ANTHROPIC_IMAGE_MAX:
                raise StreamError(ErrorType.API, f"{p.name} is {megabytes(len(p.data))}; Anthropic takes images up "
                                  "to 5 MB: attach a smaller one", retryable=False, provider=provider)
            blocks.append({"type": "image", "source": {"type": "base64", "media_type": p.mime,
                                                       "data": base64.b64encode(p.data).decode("ascii")}})
        elif p.kind == "pdf":
            blocks.append({"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                          "data": base64.b64encode(p.data).decode("ascii")}})
    if not blocks:
        return text
    return blocks + ([{"type": "text", "text": text}] if text.strip() else [])
