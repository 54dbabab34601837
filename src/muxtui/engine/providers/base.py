"""What every provider yields, and the statistics the audit log records per stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class RefusalDelta:
    """Text of a refusal the provider marks as such (OpenAI ``delta.refusal``)."""

    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A piece of one tool call. Pieces with the same ``key`` belong to the same call: the
    first usually brings ``id`` and ``name``, later ones more ``arguments`` text (streamed JSON)
    or, for a tool the provider ran itself (``server=True``: web search), its ``result``."""

    key: str
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    server: bool = False
    result: str | None = None


@dataclass(slots=True)
class Citation:
    """A source the reply cites (Anthropic citations, Perplexity ``citations``)."""

    url: str
    title: str | None = None


@dataclass(slots=True)
class UsageUpdate:
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None  # prompt tokens served from the provider's cache
    reasoning_tokens: int | None = None  # output tokens spent on hidden reasoning


@dataclass(slots=True)
class StopReason:
    """The finish/stop reason arrived (it may come before usage, an error or the end marker)."""

    reason: str
    detail: str | None = None  # the provider's explanation (Anthropic stop_details, Azure filters)


@dataclass(slots=True)
class Finish:
    """The provider's own end marker arrived ([DONE] / message_stop)."""

    reason: str | None  # provider's raw finish/stop reason: "stop", "end_turn", "length", ...


ProviderEvent = (
    TextDelta | ReasoningDelta | RefusalDelta | ToolCallDelta | Citation | UsageUpdate | StopReason | Finish
)


@dataclass(slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class StreamStats:
    """Filled in by the provider while it streams; read by the manager for the audit log."""

    upstream_status: int | None = None
    events: int = 0
    bytes: int = 0
    request_id: str | None = None  # the provider's own id (x-request-id / request-id header)


@dataclass
class StreamRequest:
    model: str  # the provider's model name, without the "provider:" prefix
    messages: list[ChatMessage]
    max_tokens: int | None = None
    # Per-workspace settings (None: the provider's default). Each provider sends what its API has.
    system: str | None = None
    temperature: float | None = None
    reasoning_effort: str | None = None  # OpenAI-compatible: "low" | "medium" | "high"
    thinking_budget: int | None = None  # Anthropic: extended thinking budget in tokens
    # Continue a reply: the text so far, as the last assistant turn (Anthropic prefills it;
    # OpenAI-compatible servers get it plus a user turn asking to continue).
    prefill: str | None = None
    stats: StreamStats = field(default_factory=StreamStats)


class Provider(Protocol):
    name: str  # the config key, e.g. "local"

    def stream(self, request: StreamRequest) -> AsyncIterator[ProviderEvent]:
        """Yield events until the provider's end marker (then yield Finish and stop).

        Raise muxtui.engine.errors.StreamError for every failure, already classified.
        A connection that closes before the end marker raises STREAM_TRUNCATED.
        """
        ...

    async def aclose(self) -> None: ...
