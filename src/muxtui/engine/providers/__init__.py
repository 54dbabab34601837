"""LLM providers: each turns a StreamRequest into a stream of ProviderEvents.

One class per provider ``type`` of config.toml (a ``ProviderClass``), found through
``registry.get(type_name)``; importing this package registers the built-in ones.

==================  =====================================================================
module              owns
==================  =====================================================================
base.py             the events a provider yields, StreamRequest/Stats, ``ProviderClass``
registry.py         type name -> class; hands config the types and their keys
http.py             transport: client, timeouts, the request life cycle, reading SSE
classify.py         any failure (exception, status, error payload) -> a StreamError
sse.py, shapes.py   the event-stream parser; pieces of chunk shapes servers share
openai.py           ``openai``: Chat Completions, every compatible server's dialect
openai_responses.py ``openai-responses``: the Responses API
anthropic.py        ``anthropic``: the Messages API
demo.py             ``demo``: the offline model
==================  =====================================================================
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from muxtui.engine.providers import registry  # importing it registers the built-in types
from muxtui.engine.providers.base import (
    ChatMessage,
    Finish,
    Provider,
    ProviderClass,
    ProviderEvent,
    ReasoningDelta,
    StreamRequest,
    StreamStats,
    TextDelta,
    UsageUpdate,
)

if TYPE_CHECKING:
    from muxtui.engine.providers.anthropic import AnthropicProvider
    from muxtui.engine.providers.demo import DemoProvider
    from muxtui.engine.providers.openai import OpenAIProvider
    from muxtui.engine.providers.openai_responses import OpenAIResponsesProvider

# The classes (and httpx under them) load on first use: the package is imported by every config load.
_CLASSES = {"AnthropicProvider": "anthropic", "DemoProvider": "demo", "OpenAIProvider": "openai",
            "OpenAIResponsesProvider": "openai_responses"}


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)

__all__ = [
    "AnthropicProvider",
    "ChatMessage",
    "DemoProvider",
    "Finish",
    "OpenAIProvider",
    "OpenAIResponsesProvider",
    "Provider",
    "ProviderClass",
    "ProviderEvent",
    "ReasoningDelta",
    "StreamRequest",
    "StreamStats",
    "TextDelta",
    "UsageUpdate",
    "registry",
]
