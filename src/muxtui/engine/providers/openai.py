"""OpenAI-compatible chat completions (OpenAI, OpenRouter, vLLM, Ollama, LM Studio, ...)."""

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

__all__ = ["CONTINUE_INSTRUCTION", "OpenAIProvider"]

CONTINUE_INSTRUCTION = (
    "Continue your previous reply exactly where it stopped. Do not repeat any of it and do not "
    "comment on the interruption: output only the rest."
)


class OpenAIProvider(HTTPProvider):
    """POST {base_url}/chat/completions with ``stream: true``; yields deltas until [DONE]."""

    kind = "openai"
    request_id_headers = ("x-request-id", "request-id")

    @property
    def url(self) -> str:
        if self.base_url.endswith("/chat/completions"):
            return self.base_url
        return self.base_url + "/chat/completions"

    def _prepare(self, request: StreamRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        if request.system:
            messages.insert(0, {"role": "system", "content": request.system})
        if request.prefill:
            # No prefill in this API: the partial reply goes back as the assistant's turn and a
            # user turn asks for the rest; the manager joins both parts into one reply.
            messages.append({"role": "assistant", "content": request.prefill})
            messages.append({"role": "user", "content": CONTINUE_INSTRUCTION})
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.reasoning_effort:
            body["reasoning_effort"] = request.reasoning_effort
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return self.url, headers, body

    async def _events(self, response: httpx.Response, request: StreamRequest) -> AsyncIterator[ProviderEvent]:
        stats = request.stats
        decoder = SSEDecoder()
        finish_reason: str | None = None
        finished = False
        loads = json.loads
        async for chunk in response.aiter_bytes():
            stats.bytes += len(chunk)
            for event in decoder.feed(chunk):
                stats.events += 1
                data = event.data
                if data == "[DONE]" or data.strip() == "[DONE]":
                    yield Finish(finish_reason)
                    return
                try:
                    obj = loads(data)
                except ValueError:
                    raise self.malformed(data) from None
                if not isinstance(obj, dict):
                    raise self.malformed(data)
                err = obj.get("error")
                if err or event.event == "error":
                    message, etype, code = extract_error(obj)
                    raise classify_error_payload(
                        message, etype, code, provider=self.name, secrets=self.secrets
                    )
                choices = obj.get("choices")
                if choices and isinstance(choices, list):
                    choice = choices[0]
                    if not isinstance(choice, dict):
                        raise self.malformed(data)
                    delta = choice.get("delta")
                    if isinstance(delta, dict):
                        reasoning = delta.get("reasoning_content")
                        if not reasoning or not isinstance(reasoning, str):
                            reasoning = delta.get("reasoning")
                        if reasoning and isinstance(reasoning, str):
                            yield ReasoningDelta(reasoning)
                        content = delta.get("content")
                        if content and isinstance(content, str):
                            yield TextDelta(content)
                    reason = choice.get("finish_reason")
                    if reason:
                        finish_reason = str(reason)
                        finished = True
                usage = obj.get("usage")
                if isinstance(usage, dict):
                    yield UsageUpdate(
                        input_tokens=_int(usage.get("prompt_tokens")),
                        output_tokens=_int(usage.get("completion_tokens")),
                    )
        decoder.close()  # a bad line at the very end
        if finished:  # some servers end the body without [DONE]
            yield Finish(finish_reason)
            return
        raise self.truncated("[DONE]", stats)

    def _events_from_json(self, data: Any, request: StreamRequest) -> list[ProviderEvent]:
        """A server that ignored ``stream: true`` and sent the whole completion."""
        if not isinstance(data, dict):
            raise self.malformed(json.dumps(data)[:200])
        if data.get("error"):
            message, etype, code = extract_error(data)
            raise classify_error_payload(
                message, etype, code, provider=self.name, secrets=self.secrets, mid_stream=False
            )
        choices = data.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise StreamError(ErrorType.API, "the server's JSON reply has no choices", provider=self.name)
        choice = choices[0]
        message = choice.get("message") or {}
        events: list[ProviderEvent] = []
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if reasoning and isinstance(reasoning, str):
            events.append(ReasoningDelta(reasoning))
        content = message.get("content")
        if content and isinstance(content, str):
            events.append(TextDelta(content))
        usage = data.get("usage")
        if isinstance(usage, dict):
            events.append(
                UsageUpdate(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")))
            )
        events.append(Finish(choice.get("finish_reason")))
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
