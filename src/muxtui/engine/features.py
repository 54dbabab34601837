"""What each provider's server was seen to support, learnt from its recent replies.

``FeatureRecorder`` listens to the engine: for every closed stream it notes, for the reply's
provider, what the reply showed: it streamed to its end, usage came with the stream (OpenAI's
``stream_options.include_usage``, Anthropic's message_start/message_delta, ...), reasoning, tool
calls. Each provider's record is kept in ``<cache_dir>/providers/<name>.json`` and read by
``muxtui doctor``, which reports "seen", "not seen in N replies" or "not probed" honestly:
a feature never seen is not claimed to be missing until replies have come back without it.

Writes happen off the event loop (a thread), and only when something new was seen or at most
once a minute for the reply counters: a busy session does not write a file per reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from muxtui.engine import atomic
from muxtui.engine import events as ev

__all__ = ["FEATURES", "FeatureRecorder", "file_name", "load_features", "features_file"]

# name in the record -> what doctor calls it
FEATURES = {
    "streaming": "streaming",
    "usage": "usage in stream",
    "reasoning": "reasoning",
    "tool_calls": "tool calls",
}
FORMAT = 1
_THROTTLE = 60.0
_STREAMED_ERRORS = frozenset({"max_output_tokens", "model_refusal"})  # the stream itself worked
_TOOL_FINISH = frozenset({"tool_calls", "tool_use", "function_call"})


def file_name(provider: str) -> str:
    """A provider's cache file name: its config name when that is a safe file name, else a
    cleaned one with a hash (so "a/b" and "a_b" never share a file, and "../x" stays inside)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", provider)
    if safe != provider or safe.startswith("."):
        safe = f"{safe.lstrip('.')}-{hashlib.sha1(provider.encode()).hexdigest()[:8]}"
    return f"{safe}.json"


def features_file(cache_dir: Path, provider: str) -> Path:
    return Path(cache_dir) / "providers" / file_name(provider)


def load_features(cache_dir: Path, provider: str) -> dict[str, Any] | None:
    try:
        data = json.loads(features_file(cache_dir, provider).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("provider") != provider or not isinstance(data.get("seen"), dict):
        return None
    return data


def observe(record: dict[str, Any], message: dict[str, Any], closed_as: str, now: float) -> bool:
    """Fold one closed reply into a provider's record; True when a feature was seen first."""
    status = message.get("status")
    error_type = message.get("error_type")
    streamed = closed_as == ev.STREAM_COMPLETE or (status == "error" and error_type in _STREAMED_ERRORS)
    new = False
    if status == "error" and error_type:
        record["last_error"] = {"type": error_type, "at": now}
    if not streamed:
        return False
    record["replies"] = int(record.get("replies") or 0) + 1
    record["last_reply_at"] = now
    seen = record.setdefault("seen", {})
    found = {
        "streaming": True,
        "usage": bool(message.get("usage")),
        "reasoning": bool(message.get("reasoning")),
        "tool_calls": bool(message.get("tool_calls")) or message.get("finish_reason") in _TOOL_FINISH,
    }
    for name, present in found.items():
        if present:
            new = new or name not in seen
            seen[name] = now
    return new


class FeatureRecorder:
    """An engine listener (``StreamManager.subscribe``) keeping per-provider feature records."""

    def __init__(self, cache_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.cache_dir = Path(cache_dir)
        self.clock = clock
        self._records: dict[str, dict[str, Any]] = {}
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: ev.Event) -> None:
        if event.type not in ev.STREAM_CLOSED:
            return
        message = event.data.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("model"), str):
            return
        provider, sep, _ = message["model"].partition(":")
        if not sep or not provider:
            return
        now = self.clock()
        with self._lock:
            record = self._records.get(provider)
            if record is None:
                record = load_features(self.cache_dir, provider) or {"format": FORMAT, "provider": provider, "seen": {}}
                self._records[provider] = record
            first = observe(record, message, event.type, now)
            due = first or now - self._written.get(provider, 0.0) >= _THROTTLE
            if not due:
                return
            self._written[provider] = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._save(provider)
        else:
            loop.run_in_executor(None, self._save, provider)

    def _save(self, provider: str) -> None:
        with self._lock:
            text = json.dumps(self._records[provider], ensure_ascii=False)
            path = features_file(self.cache_dir, provider)
            try:
                atomic.make_private_dir(self.cache_dir)
                atomic.make_private_dir(path.parent)
                atomic.write_text(path, text)
            except OSError:
                pass  # a diagnostic aid: never worth failing a reply for

    def flush(self) -> None:
        """Write every record now (at shutdown, and for tests)."""
        for provider in list(self._records):
            self._save(provider)
