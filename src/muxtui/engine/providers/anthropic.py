"""Anthropic Messages API streaming: every event and block type the API documents."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers.base import (
    Citation,
    GetJSON,
    Finish,
    ProviderEvent,
    ReasoningDelta,
    StopReason,
    StreamRequest,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
    model_ids,
    unique,
)
from muxtui.engine.providers.classify import classify_error_payload, extract_error
from muxtui.engine.providers.http import HTTPProvider
from muxtui.engine.providers.parts import anthropic_content
from muxtui.engine.providers.shapes import as_int
from muxtui.engine.providers.sse import SSEEvent

if TYPE_CHECKING:
    from muxtui.config import ProviderConfig

__all__ = ["AnthropicProvider"]

API_VERSION = "2023-06-01"
_PAGE_SIZE = 1000  # the models endpoint's largest page
_MAX_PAGES = 20  # more than any account has: a bound so a looping server cannot hold us


class AnthropicProvider(HTTPProvider):
    """POST {base_url}/v1/messages with ``stream: true``; yields deltas until message_stop."""

    type_name = "anthropic"
    request_id_headers = ("request-id", "x-request-id")
    native_pdf = True  # PDFs go as document blocks

    @classmethod
    def models_request(cls, pc: ProviderConfig, key: str | None) -> tuple[str, dict[str, str]]:
        """``GET {base_url}/v1/models`` with the key and API version headers."""
        headers = dict(pc.headers or {})
        base = (pc.base_url or "").rstrip("/")
        for suffix in ("/v1/messages", "/messages"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        url = base + "/models" if base.endswith("/v1") else base + "/v1/models"
        headers["anthropic-version"] = API_VERSION
        if key:
            headers["x-api-key"] = key
        return url, headers

    @classmethod
    async def list_models(cls, pc: ProviderConfig, key: str | None, get_json: GetJSON) -> list[str]:
        """Every page, following ``has_more`` / ``last_id``."""
        url, headers = cls.models_request(pc, key)
        models: list[str] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            params = {"limit": str(_PAGE_SIZE), **({"after_id": after} if after else {})}
            data = await get_json(url, headers, params)
            page = model_ids(data)
            models.extend(page)
            last = data.get("last_id") if isinstance(data, dict) else None
            if not (isinstance(data, dict) and data.get("has_more") and isinstance(last, str) and page):
                break
            after = last
        return unique(models)

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
        anthropic_version: str = API_VERSION,
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
            {"role": m.role, "content": anthropic_content(m.content, m.attachments, self.name)}
            for m in request.messages
            if m.role != "system" and (m.content and m.content.strip() or m.attachments)
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
        reader = _EventReader()
        head = bytearray()  # the start of the body, while no event came: it may be JSON instead
        async with contextlib.aclosing(self.sse_events(response, stats, head)) as events:
            async for event in events:
                items, done = self._event(event, reader)
                for item in items:
                    yield item
                if done:
                    return
        if not stats.events:
            items = self.json_instead(bytes(head), request)
            if items is not None:
                for item in items:
                    yield item
                return
        raise self.truncated("message_stop", stats)

    def _event(self, event: SSEEvent, reader: _EventReader) -> tuple[list[ProviderEvent], bool]:
        """The provider events of one SSE event, and whether it was message_stop."""
        name = event.event
        if name == "ping" or event.data.strip() == "[DONE]":
            return [], False  # some proxies add the OpenAI end marker; message_stop is ours
        try:
            obj = json.loads(event.data)
        except ValueError:
            raise self.malformed(event.data) from None
        if not isinstance(obj, dict):
            raise self.malformed(event.data)
        if name == "message":  # no "event:" line: fall back to the payload's type
            name = str(obj.get("type") or "message")
        if name == "message_stop":
            return [Finish(reader.stop_reason)], True
        if name == "error":
            message_text, etype, code = extract_error(obj)
            raise classify_error_payload(message_text, etype, code, provider=self.name, secrets=self.secrets)
        try:
            return reader.event(name, obj), False
        except ValueError:
            raise self.malformed(event.data) from None

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
        reader = _EventReader()
        events: list[ProviderEvent] = []
        events.extend(reader.event("message_start", {"message": {**data, "content": []}}))
        for index, block in enumerate(content):
            if isinstance(block, dict):
                events.extend(reader.event("content_block_start", {"index": index, "content_block": block}))
        events.extend(reader.event("message_delta", {"delta": {"stop_reason": data.get("stop_reason"),
                                                              "stop_details": data.get("stop_details")}}))
        events.append(Finish(data.get("stop_reason")))
        request.stats.events += 1
        return events


class _EventReader:
    """Anthropic stream events to provider events: text, thinking (and redacted thinking) as
    reasoning, tool_use / server_tool_use blocks with their streamed JSON input, server tool
    results (web search), citations, usage from message_start and message_delta, stop reasons
    with their stop_details."""

    __slots__ = ("stop_reason", "_keys", "_citations")

    def __init__(self) -> None:
        self.stop_reason: str | None = None
        self._keys: dict[int, str] = {}  # content block index -> tool call key
        self._citations: set[str] = set()

    def event(self, name: str, obj: dict) -> list[ProviderEvent]:
        out: list[ProviderEvent] = []
        if name == "content_block_delta":
            delta = obj.get("delta")
            if not isinstance(delta, dict):
                raise ValueError("content_block_delta without a delta")
            kind = delta.get("type")
            if kind == "text_delta":
                text = delta.get("text")
                if text and isinstance(text, str):
                    out.append(TextDelta(text))
            elif kind == "thinking_delta":
                text = delta.get("thinking")
                if text and isinstance(text, str):
                    out.append(ReasoningDelta(text))
            elif kind == "input_json_delta":
                key = self._keys.get(as_int(obj.get("index")) or 0)
                part = delta.get("partial_json")
                if key is not None and isinstance(part, str) and part:
                    out.append(ToolCallDelta(key, arguments=part))
            elif kind == "citations_delta":
                self._citation(delta.get("citation"), out)
            # signature_delta: only needed to send thinking back to the API, which muxtui does not
        elif name == "content_block_start":
            block = obj.get("content_block")
            if isinstance(block, dict):
                self._block(as_int(obj.get("index")) or 0, block, out)
        elif name == "message_start":
            message = obj.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                out.append(_usage(usage))
        elif name == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self.stop_reason = str(delta["stop_reason"])
                out.append(StopReason(self.stop_reason, _stop_detail(delta.get("stop_details"))))
            usage = obj.get("usage")
            if isinstance(usage, dict):
                out.append(_usage(usage))
        # content_block_stop and unknown future events: nothing to show
        return out

    def _block(self, index: int, block: dict, out: list[ProviderEvent]) -> None:
        kind = block.get("type")
        if kind == "text":
            if isinstance(block.get("text"), str) and block["text"]:
                out.append(TextDelta(block["text"]))
            for citation in block.get("citations") or ():
                self._citation(citation, out)
        elif kind == "thinking":
            if isinstance(block.get("thinking"), str) and block["thinking"]:
                out.append(ReasoningDelta(block["thinking"]))
        elif kind == "redacted_thinking":
            out.append(ReasoningDelta("\n[the provider redacted part of the reasoning]\n"))
        elif kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
            call_id = block.get("id") if isinstance(block.get("id"), str) else None
            key = call_id or f"b{index}"
            self._keys[index] = key
            tool_input = block.get("input")
            arguments = json.dumps(tool_input, ensure_ascii=False) if tool_input not in (None, {}) else ""
            name = block.get("name") if isinstance(block.get("name"), str) else None
            if kind == "mcp_tool_use" and isinstance(block.get("server_name"), str):
                name = f"{block['server_name']}.{name}"
            out.append(ToolCallDelta(key, id=call_id, name=name, arguments=arguments, server=kind != "tool_use"))
        elif isinstance(kind, str) and kind.endswith("_tool_result"):
            target = block.get("tool_use_id")
            if isinstance(target, str):
                out.append(ToolCallDelta(target, id=target, server=True, result=_result_summary(block.get("content"))))

    def _citation(self, citation: Any, out: list[ProviderEvent]) -> None:
        if not isinstance(citation, dict):
            return
        url = citation.get("url")
        if isinstance(url, str) and url and url not in self._citations:
            self._citations.add(url)
            title = citation.get("title")
            out.append(Citation(url, title if isinstance(title, str) else None))


def _result_summary(content: Any) -> str:
    """One line per web search result (or the tool's error code)."""
    if isinstance(content, dict):
        code = content.get("error_code") or content.get("type") or "error"
        return f"error: {code}"
    if not isinstance(content, list):
        return ""
    lines = []
    for item in content:
        if not isinstance(item, dict):
            continue
        title, url = item.get("title"), item.get("url")
        if isinstance(url, str):
            lines.append(f"{title} <{url}>" if isinstance(title, str) and title else url)
        elif isinstance(item.get("text"), str):
            lines.append(item["text"])
    return "\n".join(lines)


def _stop_detail(details: Any) -> str | None:
    if not isinstance(details, dict):
        return None
    explanation = details.get("explanation")
    category = details.get("category")
    parts = [p for p in (explanation, f"category: {category}" if category else None) if isinstance(p, str) and p]
    return "; ".join(parts) or None


def _usage(usage: dict) -> UsageUpdate:
    return UsageUpdate(
        input_tokens=_input_tokens(usage),
        output_tokens=as_int(usage.get("output_tokens")),
        cached_tokens=as_int(usage.get("cache_read_input_tokens")) or None,
    )


def _input_tokens(usage: dict) -> int | None:
    """Prompt tokens, including the cached parts the API reports separately."""
    base = as_int(usage.get("input_tokens"))
    if base is None:
        return None
    extra = (as_int(usage.get("cache_creation_input_tokens")) or 0) + (as_int(usage.get("cache_read_input_tokens")) or 0)
    return base + extra
