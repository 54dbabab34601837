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

from muxtui.engine.providers import registry  # importing it registers the built-in types
from muxtui.engine.providers.anthropic import AnthropicProvider
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
from muxtui.engine.providers.demo import DemoProvider
from muxtui.engine.providers.openai import OpenAIProvider
from muxtui.engine.providers.openai_responses import OpenAIResponsesProvider

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
