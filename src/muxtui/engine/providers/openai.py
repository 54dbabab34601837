"""OpenAI-compatible chat completions (OpenAI, Azure, OpenRouter, Groq, DeepSeek, Mistral, xAI,
vLLM, Ollama, llama.cpp, LM Studio, ...), with every dialect of the chunk those servers stream:
see ``_ChunkReader``. Recorded examples of each live in tests/fixtures/streams."""

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
    RefusalDelta,
    StopReason,
    StreamRequest,
    ToolCallDelta,
    model_ids,
    unique,
)
from muxtui.engine.providers.classify import classify_error_payload, extract_error
from muxtui.engine.providers.http import HTTPProvider
from muxtui.engine.providers.parts import openai_content
from muxtui.engine.providers.shapes import ThinkSplitter, as_int, openai_usage
from muxtui.engine.providers.sse import SSEEvent

if TYPE_CHECKING:
    from muxtui.config import ProviderConfig

__all__ = ["CONTINUE_INSTRUCTION", "OpenAIModels", "OpenAIProvider", "openai_models_request", "openai_list_models"]

CONTINUE_INSTRUCTION = (
    "Continue your previous reply exactly where it stopped. Do not repeat any of it and do not "
    "comment on the interruption: output only the rest."
)


class OpenAIModels:
    """An OpenAI-compatible server's model list (GET {base_url}/models): shared by the Chat
    Completions and the Responses providers."""

    @classmethod
    def models_request(cls, pc: ProviderConfig, key: str | None) -> tuple[str, dict[str, str]]:
        return openai_models_request(pc, key)

    @classmethod
    async def list_models(cls, pc: ProviderConfig, key: str | None, get_json: GetJSON) -> list[str]:
        return await openai_list_models(pc, key, get_json)


class OpenAIProvider(OpenAIModels, HTTPProvider):
    """POST {base_url}/chat/completions with ``stream: true``; yields deltas until [DONE]."""

    type_name = "openai"
    request_id_headers = ("x-request-id", "request-id")


    @property
    def url(self) -> str:
        if self.base_url.endswith("/chat/completions"):
            return self.base_url
        return self.base_url + "/chat/completions"

    def _prepare(self, request: StreamRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
        messages = [{"role": m.role, "content": openai_content(m.content, m.attachments)} for m in request.messages]
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
        }
        if not getattr(self, "_no_stream_options", False):
            body["stream_options"] = {"include_usage": True}
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.reasoning_effort:
            body["reasoning_effort"] = request.reasoning_effort
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return self.url, headers, body

    async def stream(self, request: StreamRequest) -> AsyncIterator[ProviderEvent]:
        """As HTTPProvider.stream, but a server that rejects ``stream_options`` (older Azure API
        versions, strict proxies) is asked once more without it, and never again with it."""
        try:
            async for item in super().stream(request):
                yield item
        except StreamError as exc:
            if not _rejects_stream_options(exc, request) or getattr(self, "_no_stream_options", False):
                raise
            self._no_stream_options = True
            async for item in super().stream(request):
                yield item

    async def _events(self, response: httpx.Response, request: StreamRequest) -> AsyncIterator[ProviderEvent]:
        stats = request.stats
        reader = _ChunkReader()
        head = bytearray()  # the start of the body, while no event came: it may be JSON instead
        async with contextlib.aclosing(self.sse_events(response, stats, head)) as events:
            async for event in events:
                items, done = self._event(event, reader)
                for item in items:
                    if isinstance(item, _Raise):
                        raise item.error
                    yield item
                if done:
                    return
        for item in reader.flush():
            yield item
        if reader.finish_reason is not None:  # some servers end without [DONE]: the finish reason is the end
            yield Finish(reader.finish_reason)
            return
        if not stats.events:
            items = self.json_instead(bytes(head), request)
            if items is not None:
                for item in items:
                    yield item
                return
        raise self.truncated("[DONE]", stats)

    def _event(self, event: SSEEvent, reader: _ChunkReader) -> tuple[list[ProviderEvent], bool]:
        """The provider events of one SSE event, and whether it was the end marker. An error
        chunk ends the list with a ``_Raise``: the caller yields what came before it, then raises."""
        data = event.data
        if data.strip() == "[DONE]":
            return [*reader.flush(), Finish(reader.finish_reason)], True
        if not data.strip():
            return [], False  # a lone "data:" line (some proxies send them as keep-alives)
        try:
            obj = json.loads(data)
        except ValueError:
            raise self.malformed(data) from None
        if not isinstance(obj, dict):
            raise self.malformed(data)
        try:
            items = reader.chunk(obj)
        except ValueError:
            raise self.malformed(data) from None
        if _is_error(obj) or event.event == "error":
            # Keep what arrived before the error (text, usage, finish reason): the caller
            # yields these items, then raises.
            items.extend(reader.flush())
            items.append(_Raise(self._stream_error(obj)))
        return items, False

    def _stream_error(self, obj: dict) -> StreamError:
        err = obj.get("error") if isinstance(obj.get("error"), dict) else obj
        message, etype, code = extract_error(obj)
        status = None
        for key in ("status", "status_code", "code"):
            value = err.get(key) if isinstance(err, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
                status = value
                break
        return classify_error_payload(message, etype, code, provider=self.name, secrets=self.secrets, status=status)

    def _events_from_json(self, data: Any, request: StreamRequest) -> list[ProviderEvent]:
        """A server that ignored ``stream: true`` and sent the whole completion."""
        if not isinstance(data, dict):
            raise self.malformed(json.dumps(data)[:200])
        if _is_error(data):
            message, etype, code = extract_error(data)
            raise classify_error_payload(
                message, etype, code, provider=self.name, secrets=self.secrets, mid_stream=False
            )
        choices = data.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise StreamError(ErrorType.API, "the server's JSON reply has no choices", provider=self.name)
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            message = {}
        # The same reading as a stream whose only chunk carries the whole message as its delta.
        reader = _ChunkReader()
        chunk = dict(data)
        chunk["choices"] = [{**choice, "delta": message}]
        try:
            events: list[ProviderEvent] = reader.chunk(chunk)
        except ValueError:
            raise self.malformed(json.dumps(data)[:200]) from None
        events.extend(reader.flush())
        events.append(Finish(choice.get("finish_reason")))
        request.stats.events += 1
        return events


def openai_models_request(pc: ProviderConfig, key: str | None) -> tuple[str, dict[str, str]]:
    """``GET {base_url}/models``, for every OpenAI-compatible server (Chat Completions or
    Responses): OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter, Groq, Gemini, ..."""
    headers = dict(pc.headers or {})
    base = (pc.base_url or "").rstrip("/")
    for suffix in ("/chat/completions", "/responses"):  # a base_url given as the full endpoint
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    if key:
        headers.setdefault("authorization", f"Bearer {key}")
    return base + "/models", headers


async def openai_list_models(pc: ProviderConfig, key: str | None, get_json: GetJSON) -> list[str]:
    url, headers = openai_models_request(pc, key)
    data = await get_json(url, headers, None)
    # Gemini's compatible endpoint names its models "models/gemini-..."; chat takes the bare name.
    return unique(m[len("models/"):] if m.startswith("models/") else m for m in model_ids(data))


def _rejects_stream_options(exc: StreamError, request: StreamRequest) -> bool:
    return (
        exc.status in (400, 422)
        and request.stats.events == 0
        and "stream_options" in (exc.message or "")
    )


class _Raise:
    __slots__ = ("error",)

    def __init__(self, error: StreamError) -> None:
        self.error = error


def _is_error(obj: dict) -> bool:
    """An error object sent as a chunk: ``{"error": {...}}`` or vLLM's ``{"object": "error"}``."""
    return bool(obj.get("error")) or obj.get("object") == "error" or obj.get("type") == "error"


class _ChunkReader:
    """Turns OpenAI-style chat.completion.chunk objects into provider events, whatever the
    server's dialect: reasoning as ``reasoning_content`` / ``reasoning`` / ``reasoning_details``
    or ``<think>`` tags, Mistral's typed content lists, refusals, streamed tool calls,
    ``x_groq.usage``, Perplexity citations, Azure's filter-only chunks."""

    __slots__ = ("finish_reason", "_think", "_tool_keys", "_citations")

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self._think = ThinkSplitter()
        self._tool_keys: dict[int, str] = {}
        self._citations: set[str] = set()

    def chunk(self, obj: dict) -> list[ProviderEvent]:
        out: list[ProviderEvent] = []
        choices = obj.get("choices")
        if isinstance(choices, list) and choices:
            choice = choices[0]
            if not isinstance(choice, dict):
                raise ValueError("choice is not an object")
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self._delta(delta, out)
            reason = choice.get("finish_reason")
            if reason and isinstance(reason, str) and reason != "error":
                self.finish_reason = reason
                out.append(StopReason(reason, _filter_detail(choice) if reason == "content_filter" else None))
        usage = openai_usage(obj.get("usage"))
        if usage is None:
            groq = obj.get("x_groq")
            usage = openai_usage(groq.get("usage")) if isinstance(groq, dict) else None
        if usage is not None:
            out.append(usage)
        citations = obj.get("citations")
        if isinstance(citations, list):
            for url in citations:
                if isinstance(url, str) and url not in self._citations:
                    self._citations.add(url)
                    out.append(Citation(url))
        return out

    def flush(self) -> list[ProviderEvent]:
        return list(self._think.flush())

    def _delta(self, delta: dict, out: list[ProviderEvent]) -> None:
        reasoning = delta.get("reasoning_content")
        if not isinstance(reasoning, str) or not reasoning:
            reasoning = delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out.append(ReasoningDelta(reasoning))
        else:
            details = delta.get("reasoning_details")  # OpenRouter; only when no plain copy came
            if isinstance(details, list):
                for d in details:
                    if isinstance(d, dict):
                        text = d.get("text") or d.get("summary")
                        if isinstance(text, str) and text:
                            out.append(ReasoningDelta(text))
        content = delta.get("content")
        if isinstance(content, str):
            if content:
                out.extend(self._think.feed(content))
        elif isinstance(content, list):  # Mistral: typed pieces
            for piece in content:
                if not isinstance(piece, dict):
                    continue
                kind = piece.get("type")
                if kind == "text" and isinstance(piece.get("text"), str) and piece["text"]:
                    out.extend(self._think.feed(piece["text"]))
                elif kind == "thinking":
                    for part in _as_list(piece.get("thinking")):
                        text = part.get("text") if isinstance(part, dict) else part
                        if isinstance(text, str) and text:
                            out.append(ReasoningDelta(text))
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            out.append(RefusalDelta(refusal))
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for position, call in enumerate(calls):
                if isinstance(call, dict):
                    out.append(self._tool_call(call, position))
        legacy = delta.get("function_call")
        if isinstance(legacy, dict):
            out.append(
                ToolCallDelta(
                    "function_call",
                    name=_opt_str(legacy.get("name")),
                    arguments=_arguments(legacy.get("arguments")),
                )
            )

    def _tool_call(self, call: dict, position: int) -> ToolCallDelta:
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        index = as_int(call.get("index"))
        call_id = _opt_str(call.get("id"))
        if index is None:  # Mistral sends whole calls without an index: each id is its own call
            key = call_id or f"p{position}"
        else:
            key = self._tool_keys.setdefault(index, f"i{index}")
        return ToolCallDelta(key, id=call_id, name=_opt_str(fn.get("name")), arguments=_arguments(fn.get("arguments")))


def _as_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    return [value] if value is not None else []


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _arguments(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)  # some servers send the arguments as an object


def _filter_detail(choice: dict) -> str | None:
    """Azure: which content filters fired, from the finishing choice's filter results."""
    results = choice.get("content_filter_results")
    if not isinstance(results, dict):
        return None
    hit = [
        f"{name} ({r.get('severity')})" if r.get("severity") else name
        for name, r in results.items()
        if isinstance(r, dict) and (r.get("filtered") or r.get("detected"))
    ]
    return "filtered: " + ", ".join(hit) if hit else None
