"""How full a workspace's context is, and what a request sends once part of it is compacted.

Owns: a model's context window (``window_for``: the config's per-model value, what the server's
model list states, a built-in table of well-known models, the config's ``[context] window``);
the tokens a conversation uses (``context_used``: the last reply's reported usage plus chars/4
for the text added since); which messages a request is built from when a summary stands in for
older ones (``request_messages``); and what ``/compact`` summarises (``compact_range``, the
summary prompt). The summary call itself is the manager's (``StreamManager.compact``); the
record it writes is described in docs/storage.md ("Summaries").

Pure functions over the stored message dicts: the app and the CLI use them through
``muxtui.client`` as the engine does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "BUILTIN_WINDOWS", "SUMMARY_INSTRUCTION", "SUMMARY_PREFIX", "attachment_tokens", "compact_range", "context_used", "estimate_tokens",
    "latest_summary", "meter_text", "request_messages", "window_for",
]

# Context windows of well-known models, by name prefix (the longest prefix wins). Sources: the
# providers' model pages as of 2025: OpenAI platform.openai.com/docs/models (gpt-4.1: 1,047,576;
# gpt-4o, gpt-4-turbo: 128,000; gpt-4: 8,192; gpt-3.5-turbo: 16,385; o1/o3/o4-mini: 200,000;
# gpt-5: 400,000), Anthropic docs.anthropic.com "Models overview" (every Claude 3/3.5/3.7/4:
# 200,000), Meta's Llama model cards (Llama 3: 8,192; 3.1/3.2/3.3: 128,000), Google
# ai.google.dev/gemini-api/docs/models (gemini-1.5-pro: 2,097,152; 1.5-flash, 2.x: 1,048,576).
BUILTIN_WINDOWS: dict[str, int] = {
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "gpt-5": 400_000,
    "o1": 200_000,
    "o3": 200_000,
    "o4-mini": 200_000,
    "claude-": 200_000,
    "llama3.1": 128_000,
    "llama3.2": 128_000,
    "llama3.3": 128_000,
    "llama-3.1": 128_000,
    "llama-3.2": 128_000,
    "llama-3.3": 128_000,
    "llama3": 8_192,
    "llama-3": 8_192,
    "gemini-1.5-pro": 2_097_152,
    "gemini-1.5-flash": 1_048_576,
    "gemini-2": 1_048_576,
}

SUMMARY_PREFIX = "Summary of the earlier conversation (it replaces those messages):"
SUMMARY_INSTRUCTION = (
    "Summarise the conversation above so that it can go on from your summary alone: keep the facts, "
    "decisions, names, numbers, code and file names that matter, what was asked and answered, and "
    "what is still open. Write only the summary, no preamble."
)
PER_MESSAGE = 4  # tokens a message costs beyond its text (role, separators), for the estimate
# Attachments, roughly: a text file by its size / 4; an image a fixed cost (OpenAI: 765 tokens
# for a 1024x1024 "high" image; Anthropic: (width x height) / 750, ~1,600 at its 1.15 MP
# target); a PDF by its size (text and a page image per page, ~1,500-3,000 tokens a page).
IMAGE_TOKENS = 1600
PDF_BYTES_PER_TOKEN = 40


def estimate_tokens(text: str) -> int:
    """About four characters a token (English prose and code); rounds up."""
    return (len(text) + 3) // 4


def _bare_name(model: str) -> str:
    """``openrouter:anthropic/claude-3.5-sonnet?x=1`` → ``claude-3.5-sonnet``."""
    name = model.partition(":")[2] if ":" in model else model
    return name.partition("?")[0].rsplit("/", 1)[-1].strip().lower()


def window_for(model: str, *, configured: Mapping[str, int] | None = None, server: Mapping[str, int] | None = None,
               default: int | None = None) -> tuple[int | None, str]:
    """A model's context window and where it comes from: "config" (``[context.windows]``, by
    "provider:model" or by model name), "server" (its model list said so), "table"
    (``BUILTIN_WINDOWS``), "default" (``[context] window``) or "unknown" (None)."""
    name = model.partition(":")[2] if ":" in model else model
    for key in (model, name):
        if configured and key in configured:
            return configured[key], "config"
    if server:
        for key in (name, name.partition("?")[0]):
            if key in server:
                return server[key], "server"
    bare = _bare_name(model)
    best = max((p for p in BUILTIN_WINDOWS if bare.startswith(p)), key=len, default=None)
    if best is not None:
        return BUILTIN_WINDOWS[best], "table"
    if default:
        return default, "default"
    return None, "unknown"


def _summarizes(m: Mapping[str, Any]) -> tuple[int, int] | None:
    span = m.get("summarizes")
    if (m.get("summary") is True and isinstance(span, list) and len(span) == 2
            and all(type(s) is int for s in span) and span[0] <= span[1]):
        return span[0], span[1]
    return None


def latest_summary(messages: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest well-formed summary record (it covers the ones before it)."""
    found = None
    for m in messages:
        if _summarizes(m) is not None:
            found = m
    return found


def request_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages a request is built from: the newest summary stands where the messages it
    summarises were (they, and older summaries, are left out); everything else as it is."""
    summary = latest_summary(messages)
    if summary is None:
        return [m for m in messages if not m.get("summary")]
    first, last = _summarizes(summary)  # type: ignore[misc]
    out: list[dict[str, Any]] = []
    placed = False
    for m in messages:
        seq = m.get("seq")
        if m.get("summary"):
            continue
        if isinstance(seq, int) and first <= seq <= last:
            if not placed:
                out.append(dict(summary))
                placed = True
            continue
        out.append(m)
    if not placed:  # the summarised messages are not in this list (a page of history)
        out.insert(0, dict(summary))
    return out


def _text(m: Mapping[str, Any]) -> str:
    content = m.get("content")
    return content if isinstance(content, str) else ""


def _reported(m: Mapping[str, Any]) -> int | None:
    usage = m.get("usage")
    if m.get("role") != "assistant" or not isinstance(usage, dict):
        return None
    values = [usage.get("input_tokens"), usage.get("output_tokens")]
    if not all(type(v) is int and v >= 0 for v in values):
        return None
    return values[0] + values[1]  # type: ignore[operator]


def attachment_tokens(refs: Any) -> int:
    """A rough token cost of a message's attachments (references, docs/storage.md)."""
    total = 0
    for ref in refs if isinstance(refs, list) else ():
        size = ref.get("size") if isinstance(ref, dict) else None
        size = size if type(size) is int and size > 0 else 0
        kind = ref.get("kind") if isinstance(ref, dict) else None
        if kind == "image":
            total += IMAGE_TOKENS
        elif kind == "pdf":
            total += max(500, size // PDF_BYTES_PER_TOKEN)
        elif kind == "text":
            total += (size + 3) // 4 + 10  # the fence and the name
    return total


def context_used(messages: list[dict[str, Any]], extra: str = "", attachments: Any = None) -> tuple[int, bool]:
    """Tokens the next request's conversation takes (plus ``extra``, e.g. a message about to be
    sent), and whether any of it is estimated: the newest reply's reported usage (its input was
    the whole context before it) plus an estimate for what came after it. A reply older than the
    newest summary is not used: its input still held the summarised messages."""
    sent = request_messages(messages)
    summary = latest_summary(messages)
    floor = summary.get("seq", -1) if summary is not None else -1
    used, start = 0, 0
    for i in range(len(sent) - 1, -1, -1):
        m = sent[i]
        reported = _reported(m)
        if reported is not None and not (isinstance(m.get("seq"), int) and m["seq"] < floor):
            used, start = reported, i + 1
            break
    rest = sent[start:]
    used += sum(estimate_tokens(_text(m)) + PER_MESSAGE + attachment_tokens(m.get("attachments")) for m in rest)
    if extra or attachments:
        used += estimate_tokens(extra) + PER_MESSAGE + attachment_tokens(attachments)
    return used, bool(rest or extra or attachments or start == 0 and sent)


def compact_range(messages: list[dict[str, Any]], keep_turns: int) -> tuple[list[dict[str, Any]], tuple[int, int]] | None:
    """What ``/compact`` summarises: the request's messages before the last ``keep_turns`` turns
    (a turn starts at a user message), and the seq range the summary covers (from the first
    message ever summarised). None when there is nothing new to summarise."""
    sent = request_messages(messages)
    starts = [i for i, m in enumerate(sent) if m.get("role") == "user" and not m.get("summary")]
    if keep_turns <= 0:
        cut = len(sent)
    else:
        cut = starts[-keep_turns] if len(starts) >= keep_turns else 0
    older = sent[:cut]
    fresh = [m for m in older if not m.get("summary") and isinstance(m.get("seq"), int)]
    if not fresh or not any(_text(m).strip() for m in fresh):
        return None
    seqs = [m["seq"] for m in fresh]
    for m in older:
        span = _summarizes(m)
        if span is not None:
            seqs.append(span[0])
    return older, (min(seqs), max(m["seq"] for m in fresh))


def _short(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 1000:
        return f"{n / 1000:.1f}k".replace(".0k", "k") if n < 10_000 else f"{round(n / 1000)}k"
    return str(n)


def meter_text(used: int, window: int | None) -> tuple[str, str]:
    """The meter as shown ("ctx 12k/128k (9%)") and its level: "ok", "warning" (past 80%) or
    "error" (past 100%)."""
    if not window:
        return f"ctx {_short(used)}", "ok"
    percent = used * 100 / window
    level = "error" if percent >= 100 else "warning" if percent > 80 else "ok"
    return f"ctx {_short(used)}/{_short(window)} ({percent:.0f}%)", level
