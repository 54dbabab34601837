"""Pieces of the many shapes real servers stream, shared by the providers.

- ``ThinkSplitter``: ``<think>...</think>`` at the start of the content (DeepSeek-R1 and Qwen on
  Ollama, vLLM without a reasoning parser, llama.cpp) goes to reasoning, also when a tag is
  split across chunks.
- ``openai_usage``: token counts from an OpenAI-style ``usage`` object, whichever server's
  spelling (cached tokens, reasoning tokens, DeepSeek's cache hits).
- ``as_int``: a JSON number that is really an integer, or None.
"""

from __future__ import annotations

from typing import Any

from muxtui.engine.providers.base import ReasoningDelta, TextDelta, UsageUpdate

__all__ = ["ThinkSplitter", "openai_usage", "as_int"]

_OPEN = "<think>"
_CLOSE = "</think>"


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def openai_usage(usage: Any) -> UsageUpdate | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    cached = as_int(prompt.get("cached_tokens")) if isinstance(prompt, dict) else None
    if cached is None:
        cached = as_int(usage.get("prompt_cache_hit_tokens"))  # DeepSeek
    reasoning = as_int(completion.get("reasoning_tokens")) if isinstance(completion, dict) else None
    update = UsageUpdate(
        input_tokens=as_int(usage.get("prompt_tokens")),
        output_tokens=as_int(usage.get("completion_tokens")),
        cached_tokens=cached or None,
        reasoning_tokens=reasoning or None,
    )
    if update.input_tokens is None and update.output_tokens is None:
        return None
    return update


class ThinkSplitter:
    """Route ``<think>`` blocks in the answer text to reasoning.

    Only a block that opens the answer (after blank space) counts: a ``<think>`` in the middle of
    an answer is text the model meant to show (code about tags, say). A tag may be split across
    chunks, so a tail that could still become a tag is held back until the next chunk or
    ``flush``.
    """

    __slots__ = ("_state", "_held")

    def __init__(self) -> None:
        self._state = "start"  # start -> think -> after -> text; or start -> text
        self._held = ""

    def feed(self, text: str) -> list[TextDelta | ReasoningDelta]:
        out: list[TextDelta | ReasoningDelta] = []
        if self._state == "text":
            if text:
                out.append(TextDelta(text))
            return out
        data = self._held + text
        self._held = ""
        if self._state == "start":
            lead = data.lstrip()
            if not lead:
                self._held = data
                return out
            if lead.startswith(_OPEN):
                self._state = "think"
                data = lead[len(_OPEN):]
            elif _OPEN.startswith(lead):
                self._held = data  # "<thi" so far: wait for the rest
                return out
            else:
                self._state = "text"
                out.append(TextDelta(data))
                return out
        if self._state == "think":
            end = data.find(_CLOSE)
            if end < 0:
                keep = _partial_suffix(data, _CLOSE)
                if len(data) - keep:
                    out.append(ReasoningDelta(data[: len(data) - keep]))
                self._held = data[len(data) - keep:]
                return out
            if end:
                out.append(ReasoningDelta(data[:end]))
            data = data[end + len(_CLOSE):]
            self._state = "after"
        if self._state == "after":  # the blank lines between </think> and the answer
            data = data.lstrip()
            if not data:
                return out
            self._state = "text"
            out.append(TextDelta(data))
        return out

    def flush(self) -> list[TextDelta | ReasoningDelta]:
        held, self._held = self._held, ""
        if not held:
            return []
        if self._state == "think":
            return [ReasoningDelta(held)]
        if self._state == "start" and held.strip():
            return [TextDelta(held)]
        return []


def _partial_suffix(data: str, tag: str) -> int:
    """Length of the longest tail of ``data`` that is a proper prefix of ``tag``."""
    for n in range(min(len(tag) - 1, len(data)), 0, -1):
        if tag.startswith(data[-n:]):
            return n
    return 0
