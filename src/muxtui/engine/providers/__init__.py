"""LLM providers: each turns a StreamRequest into a stream of ProviderEvents.

``PROVIDER_TYPES`` maps the ``type`` of a provider in the config to its class.
"""

from __future__ import annotations

from muxtui.engine.providers.anthropic import AnthropicProvider
from muxtui.engine.providers.base import (
    ChatMessage,
    Finish,
    Provider,
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

PROVIDER_TYPES: dict[str, type] = {
    "openai": OpenAIProvider,
    "openai-responses": OpenAIResponsesProvider,
    "anthropic": AnthropicProvider,
    "demo": DemoProvider,
}

__all__ = [
    "PROVIDER_TYPES",
    "AnthropicProvider",
    "ChatMessage",
    "DemoProvider",
    "Finish",
    "OpenAIProvider",
    "OpenAIResponsesProvider",
    "Provider",
    "ProviderEvent",
    "ReasoningDelta",
    "StreamRequest",
    "StreamStats",
    "TextDelta",
    "UsageUpdate",
]
