"""Engine events: plain, JSON-serialisable records the UI (or a socket client) subscribes to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Event types, in the user's words.
WORKSPACE_CREATED = "workspace.created"
WORKSPACE_UPDATED = "workspace.updated"  # renamed, model changed
WORKSPACE_DELETED = "workspace.deleted"
WORKSPACE_RECOVERED = "workspace.recovered"  # a leftover partial was committed as interrupted
MESSAGE_ADDED = "message.added"  # a user message was committed (typed, or merged from the queue)
MESSAGE_SAVED = "message.saved"  # a reply the disk refused at its close is now written (with its seq)
HISTORY_TRUNCATED = "history.truncated"
HISTORY_RELOADED = "history.reloaded"  # another process wrote this workspace; memory was re-read
QUEUE_CHANGED = "queue.changed"
STREAM_STARTED = "stream.started"
STREAM_DELTA = "stream.delta"
STREAM_RETRYING = "stream.retrying"
STREAM_FALLBACK = "stream.fallback"
STREAM_COMPLETE = "stream.complete"
STREAM_INTERRUPTED = "stream.interrupted"
STREAM_ERROR = "stream.error"
WARNING = "warning"

STREAM_CLOSED = frozenset({STREAM_COMPLETE, STREAM_INTERRUPTED, STREAM_ERROR})


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    workspace: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "workspace": self.workspace, **self.data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Event":
        d = dict(d)
        return cls(d.pop("type"), d.pop("workspace"), d)
