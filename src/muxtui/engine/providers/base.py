"""What every provider yields, the statistics the audit log records per stream, and
``ProviderClass``: the one place that knows a provider type (see its docstring)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    from muxtui.config import Config, ProviderConfig


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
    # A user turn's attachments, loaded (muxtui.engine.providers.parts.Part); each provider
    # shapes them as its API wants (parts.openai_content, responses_content, anthropic_content).
    attachments: tuple[Any, ...] = ()


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


# GET a URL with these headers and query parameters; the JSON body. Raises (the caller's
# exception) for anything that is not a model list: the catalog decides what a failure means.
GetJSON = Callable[[str, dict[str, str], "dict[str, str] | None"], Awaitable[Any]]

MAX_MODELS = 5000  # OpenRouter lists ~500; a bound so a broken server cannot flood the picker


class ProviderClass:
    """Everything muxtui knows about one provider ``type`` of config.toml, in one class.

    Class level (no instance, no network): what config.toml may say for the type
    (``needs_base_url``, ``config_options``, registered with config by ``registry``), how to
    build a provider from its config (``from_config``), whether it runs without a network
    (``offline``: ``muxtui doctor`` probes nothing), and how to ask its server for models
    (``models_request``: the picker, ``muxtui models`` and the doctor's probe;
    ``list_models``: every page). Instance level: ``stream`` (building the request, reading
    each event, classifying the provider's own error payloads).

    A concrete class sets ``type_name`` and is registered in ``muxtui.engine.providers.registry``.
    """

    type_name: ClassVar[str] = ""
    needs_base_url: ClassVar[bool] = True
    # Keys of a [providers.X] table that only this type takes (each a ProviderConfig field),
    # with their allowed values.
    config_options: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    offline: ClassVar[bool] = False
    native_pdf: ClassVar[bool] = False  # takes PDFs as documents (else their text is sent)
    lists_models: ClassVar[bool] = False

    @classmethod
    def from_config(cls, pc: ProviderConfig, cfg: Config) -> Any:
        raise NotImplementedError

    @classmethod
    def models_request(cls, pc: ProviderConfig, key: str | None) -> tuple[str, dict[str, str]]:
        """URL and headers of the server's model list (its first page), for ``lists_models`` types."""
        raise NotImplementedError(f"provider type {cls.type_name!r} has no models endpoint")

    @classmethod
    async def list_models(cls, pc: ProviderConfig, key: str | None, get_json: GetJSON) -> list[str]:
        """Every model the server offers, as chat requests name them."""
        url, headers = cls.models_request(pc, key)
        return unique(model_ids(await get_json(url, headers, None)))


def model_ids(data: Any) -> list[str]:
    """The model names of a models-endpoint reply: ``{"data": [{"id"}]}`` (OpenAI, Anthropic),
    ``{"models": [{"name"}]}`` (Ollama) or a bare list; odd entries are left out."""
    items = data.get("data", data.get("models")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        return []
    out = []
    for item in items[:MAX_MODELS]:
        ident = item.get("id") or item.get("name") if isinstance(item, dict) else item
        if isinstance(ident, str) and ident.strip() and len(ident) <= 300 and "\n" not in ident:
            out.append(ident.strip())
    return out


def unique(models: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(models))
