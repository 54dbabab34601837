"""Engine events: typed, sequence-numbered records the UI, the CLI or a socket client subscribe to.

One frozen dataclass per event type. Every event names its workspace and carries the engine's
``seq``: strictly increasing within one engine, so a client that saw event N knows it has seen
everything before it (the engine host replays from there). Payload fields are plain JSON data
(messages and queue items as the dicts stored on disk), so ``Event.from_dict(e.to_dict()) == e``
for every event: the wire format is ``to_dict()``, one JSON object per event.

``type`` is a class constant in the user's words; the module constants below name them for
code that filters by type (``ev.STREAM_CLOSED``). ``data`` is the payload as a dict, for
printing and for code that only forwards it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

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

_BY_TYPE: dict[str, type["Event"]] = {}
_ENVELOPE = ("type", "seq", "workspace")


class EventError(ValueError):
    """A dict that is not an event this version knows (unknown type, missing or wrong fields)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    TYPE: ClassVar[str] = ""

    workspace: str
    seq: int = 0

    @property
    def type(self) -> str:
        return self.TYPE

    @property
    def data(self) -> dict[str, Any]:
        """The payload: every field but the envelope, defaults left out (as on the wire)."""
        out: dict[str, Any] = {}
        for f in _payload_fields(type(self)):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and type(value) is type(f.default) and value == f.default:
                continue
            if f.default_factory is not dataclasses.MISSING and not value:
                continue
            out[f.name] = value
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "seq": self.seq, "workspace": self.workspace, **self.data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Event":
        """The event a ``to_dict()`` came from; EventError for anything else."""
        if not isinstance(d, dict):
            raise EventError(f"an event is a JSON object, not {type(d).__name__}")
        cls = _BY_TYPE.get(d.get("type"))  # type: ignore[arg-type]
        if cls is None:
            raise EventError(f"unknown event type {d.get('type')!r}")
        kwargs = {k: v for k, v in d.items() if k != "type"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(kwargs) - names
        if unknown:
            raise EventError(f"{cls.TYPE}: unknown fields {sorted(unknown)}")
        if not isinstance(kwargs.get("workspace"), str) or not isinstance(kwargs.get("seq", 0), int):
            raise EventError(f"{cls.TYPE}: workspace must be a string and seq an integer")
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise EventError(f"{cls.TYPE}: {exc}") from None

    @staticmethod
    def from_json(line: str | bytes) -> "Event":
        try:
            return Event.from_dict(json.loads(line))
        except json.JSONDecodeError as exc:
            raise EventError(f"not JSON: {exc}") from None

    @staticmethod
    def make(type_: str, workspace: str, seq: int = 0, **data: Any) -> "Event":
        """The event of this type (how the engine emits: a type constant and keyword fields)."""
        cls = _BY_TYPE.get(type_)
        if cls is None:
            raise EventError(f"unknown event type {type_!r}")
        return cls(workspace=workspace, seq=seq, **data)


_FIELDS: dict[type, tuple[dataclasses.Field, ...]] = {}


def _payload_fields(cls: type) -> tuple[dataclasses.Field, ...]:
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(f for f in dataclasses.fields(cls) if f.name not in ("workspace", "seq"))
    return fields


def event_types() -> dict[str, type[Event]]:
    return dict(_BY_TYPE)


# ---- workspaces --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceCreated(Event):
    TYPE: ClassVar[str] = WORKSPACE_CREATED
    info: dict[str, Any]  # WorkspaceInfo.to_dict()
    forked_from: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceUpdated(Event):
    TYPE: ClassVar[str] = WORKSPACE_UPDATED
    info: dict[str, Any]
    settings: dict[str, Any] | None = None  # present when the settings changed


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceDeleted(Event):
    TYPE: ClassVar[str] = WORKSPACE_DELETED


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceRecovered(Event):
    TYPE: ClassVar[str] = WORKSPACE_RECOVERED
    message: dict[str, Any]


# ---- history -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class MessageAdded(Event):
    TYPE: ClassVar[str] = MESSAGE_ADDED
    message: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSaved(Event):
    TYPE: ClassVar[str] = MESSAGE_SAVED
    message: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryTruncated(Event):
    TYPE: ClassVar[str] = HISTORY_TRUNCATED
    from_seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryReloaded(Event):
    TYPE: ClassVar[str] = HISTORY_RELOADED
    count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueChanged(Event):
    TYPE: ClassVar[str] = QUEUE_CHANGED
    items: list[dict[str, Any]] = field(default_factory=list)


# ---- streams -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, kw_only=True)
class StreamStarted(Event):
    TYPE: ClassVar[str] = STREAM_STARTED
    request_id: str
    message_id: str = ""
    model: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamDelta(Event):
    """Text (or reasoning, or a refusal) appended to the reply in flight; one or many tokens."""

    TYPE: ClassVar[str] = STREAM_DELTA
    request_id: str
    text: str = ""
    reasoning: str = ""
    refusal: str = ""
    tool_calls: bool = False  # the reply's tool calls changed (they arrive with the close)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRetrying(Event):
    TYPE: ClassVar[str] = STREAM_RETRYING
    request_id: str
    attempt: int
    delay: float
    retry_at: float | None = None
    error_type: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamFallback(Event):
    TYPE: ClassVar[str] = STREAM_FALLBACK
    request_id: str
    from_model: str
    to_model: str
    error_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamClosed(Event):
    """The reply ended (its subclass says how); ``message`` is the reply as committed."""

    request_id: str
    message: dict[str, Any]
    persisted: bool = True  # False: the disk refused it; a message.saved follows once written
    stale: bool = False  # the workspace moved on (edited, truncated) while it ran


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamComplete(StreamClosed):
    TYPE: ClassVar[str] = STREAM_COMPLETE


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamInterrupted(StreamClosed):
    TYPE: ClassVar[str] = STREAM_INTERRUPTED


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamError(StreamClosed):
    TYPE: ClassVar[str] = STREAM_ERROR


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineWarning(Event):
    TYPE: ClassVar[str] = WARNING
    text: str


def _register(cls: type[Event]) -> None:
    for sub in cls.__subclasses__():
        if sub.__dict__.get("TYPE"):
            _BY_TYPE[sub.TYPE] = sub
        _register(sub)


_register(Event)
