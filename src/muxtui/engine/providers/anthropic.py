"""Anthropic Messages API streaming."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers.base import (
    Finish,
    ProviderEvent,
    ReasoningDelta,
    StreamRequest,
    TextDelta,
    UsageUpdate,
)
from muxtui.engine.providers.http import HTTPProvider, classify_error_payload, extract_error
from muxtui.engine.providers.sse import SSEDecoder

__all__ = ["AnthropicProvider"]


class AnthropicProvider(HTTPProvider):
    """POST {base_url}/v1/messages with ``stream: true``; yields deltas until message_stop."""

    kind = "anthropic"
    request_id_headers = ("request-id", "x-request-id")

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        headers: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        anthropic_version: str = "2023-06-01",
        default_max_tokens: int = 4096,
    ) -> None:
        super().__init__(
            name,
            base_url,
            api_key,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            headers=headers,
            client=client,
        )
        self.anthropic_version = anthropic_version
        self.default_max_tokens = default_max_tokens

    @property
    def url(self) -> str:
        if self.base_url.endswith("/v1/messages"):
            return self.base_url
        if self.base_url.endswith("/v1"):
            return self.base_url + "/messages"
        return self.base_url + "/v1/messages"

    def _prepare(self, request: StreamRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
        system = [m.content for m in request.messages if m.role == "system" and m.content]
        # The API rejects empty content (e.g. an assistant turn that failed before its
        # first token); such turns carry nothing for the model anyway.
        messages = [
            {"role": m.role, "content": m.content}
            for m in request.messages
            if m.role != "system" and m.content and m.content.strip()
        ]
        if request.system:
            system.insert(0, request.system)
        if request.prefill and request.prefill.strip():
            # Prefill: the reply so far is the last (assistant) turn and the model continues it.
            # The API refuses a final assistant turn that ends in whitespace.
            messages.append({"role": "assistant", "content": request.prefill.rstrip()})
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens if request.max_tokens is not None else self.default_max_tokens,
            "stream": True,
        }
        if system:
            body["system"] = "\n\n".join(system)
        if request.thinking_budget:
            body["thinking"] = {"type": "enabled", "budget_tokens": request.thinking_budget}
            # The budget counts against max_tokens, which must stay larger.
            body["max_tokens"] = max(body["max_tokens"], request.thinking_budget + 1024)
        elif request.temperature is not None:
            # Extended thinking accepts no temperature other than the default: sent only without it.
            body["temperature"] = request.temperature
        headers = {"anthropic-version": self.anthropic_version}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return self.url, headers, body

    async def _events(self, response: httpx.Response, request: StreamRequest) -> AsyncIterator[ProviderEvent]:
        stats = request.stats
        decoder = SSEDecoder()
        stop_reason: str | None = None
        loads = json.loads
        async for chunk in response.aiter_bytes():
            stats.bytes += len(chunk)
            for event in decoder.feed(chunk):
                stats.events += 1
                name = event.event
                if name == "ping":
                    continue
                try:
                    obj = loads(event.data)
                except ValueError:
                    raise self.malformed(event.data) from None
                if not isinstance(obj, dict):
                    raise self.malformed(event.data)
                if name == "message":  # no "event:" line: fall back to the payload's type
                    name = str(obj.get("type") or "message")
                if name == "content_block_delta":
                    delta = obj.get("delta")
                    if not isinstance(delta, dict):
                        raise self.malformed(event.data)
                    kind = delta.get("type")
                    if kind == "text_delta":
                        text = delta.get("text")
                        if text and isinstance(text, str):
                            yield TextDelta(text)
                    elif kind == "thinking_delta":
                        text = delta.get("thinking")
                        if text and isinstance(text, str):
                            yield ReasoningDelta(text)
                    # signature_delta, input_json_delta, citations_delta: nothing to show
                elif name == "message_start":
                    message = obj.get("message")
                    usage = message.get("usage") if isinstance(message, dict) else None
                    if isinstance(usage, dict):
                        yield UsageUpdate(input_tokens=_input_tokens(usage), output_tokens=_int(usage.get("output_tokens")))
                elif name == "message_delta":
                    delta = obj.get("delta")
                    if isinstance(delta, dict) and delta.get("stop_reason"):
                        stop_reason = str(delta["stop_reason"])
                    usage = obj.get("usage")
                    if isinstance(usage, dict):
                        yield UsageUpdate(input_tokens=_input_tokens(usage), output_tokens=_int(usage.get("output_tokens")))
                elif name == "message_stop":
                    yield Finish(stop_reason)
                    return
                elif name == "error":
                    message_text, etype, code = extract_error(obj)
                    raise classify_error_payload(
                        message_text, etype, code, provider=self.name, secrets=self.secrets
                    )
                # content_block_start/stop and unknown future events: ignored
        decoder.close()  # a bad line at the very end
        raise self.truncated("message_stop", stats)

    def _events_from_json(self, data: Any, request: StreamRequest) -> list[ProviderEvent]:
        """A server (or proxy) that ignored ``stream: true`` and sent the whole message."""
        if not isinstance(data, dict):
            raise self.malformed(json.dumps(data)[:200])
        if data.get("type") == "error" or data.get("error"):
            message, etype, code = extract_error(data)
            raise classify_error_payload(
                message, etype, code, provider=self.name, secrets=self.secrets, mid_stream=False
            )
        content = data.get("content")
        if not isinstance(content, list):
            raise StreamError(ErrorType.API, "the server's JSON reply has no content", provider=self.name)
        events: list[ProviderEvent] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
                events.append(ReasoningDelta(block["thinking"]))
            elif block.get("type") == "text" and isinstance(block.get("text"), str) and block["text"]:
                events.append(TextDelta(block["text"]))
        usage = data.get("usage")
        if isinstance(usage, dict):
            events.append(UsageUpdate(_input_tokens(usage), _int(usage.get("output_tokens"))))
        events.append(Finish(data.get("stop_reason")))
        request.stats.events += 1
        return events


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _input_tokens(usage: dict) -> int | None:
    """Prompt tokens, including the cached parts the API reports separately."""
    base = _int(usage.get("input_tokens"))
    if base is None:
        return None
    extra = (_int(usage.get("cache_creation_input_tokens")) or 0) + (_int(usage.get("cache_read_input_tokens")) or 0)
    return base + extra
