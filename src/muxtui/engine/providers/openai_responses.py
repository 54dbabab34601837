"""OpenAI's Responses API (``POST {base_url}/responses``), provider type ``openai-responses``.

The request carries the conversation as ``input`` items and the system prompt as
``instructions``; the reply streams as typed events (the event's ``type`` field, also sent
as the SSE ``event:`` line). What each event becomes:

* ``response.output_text.delta``: reply text.
* ``response.reasoning_summary_text.delta`` (and ``response.reasoning_text.delta``, which
  open-weight models served through this API send): reasoning. A new summary part is
  separated from the last by a blank line.
* ``response.refusal.delta``: the refusal (``RefusalDelta``: kept and shown); the reply ends
  with finish reason ``refusal`` (status ``model_refusal``, never retried).
* ``response.completed``: usage (input/output tokens, cached and reasoning token counts
  where the event carries them) and the end.
* ``response.incomplete``: usage, then the end; the text so far is kept.
* ``response.failed`` and ``error``: a StreamError classified by the error's code and wording.
* ``response.output_item.done`` for a function (or hosted tool) call: the call's name and
  arguments (``ToolCallDelta``); a reply that is only calls is complete (muxtui runs no tools).

The Responses API has no finish reason, only a status; the finish reason saved is the Chat
Completions word for it, so one table (the manager's) decides what each means: completed ->
``stop``, a reply with tool calls -> ``tool_calls``, a refusal -> ``refusal``, incomplete for
``max_output_tokens`` -> ``length``, incomplete for ``content_filter`` -> ``content_filter``.

There is no ``[DONE]``: a body that ends before one of the three terminal events is
``stream_truncated``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers.base import (
    Finish,
    ProviderEvent,
    ReasoningDelta,
    RefusalDelta,
    StreamRequest,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from muxtui.engine.providers.classify import classify_error_payload
from muxtui.engine.providers.http import HTTPProvider
from muxtui.engine.providers.openai import OpenAIModels
from muxtui.engine.providers.parts import responses_content
from muxtui.engine.providers.shapes import as_int
from muxtui.engine.providers.sse import SSEDecoder

if TYPE_CHECKING:
    from muxtui.config import ProviderConfig

__all__ = ["OpenAIResponsesProvider", "REASONING_SUMMARIES", "REASONING_EFFORTS"]

REASONING_SUMMARIES = ("auto", "concise", "detailed")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

_TERMINAL = ("response.completed", "response.incomplete", "response.failed")
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


class OpenAIResponsesProvider(OpenAIModels, HTTPProvider):
    """POST {base_url}/responses with ``stream: true``; yields deltas until a terminal event."""

    type_name = "openai-responses"
    request_id_headers = ("x-request-id", "request-id")
    config_options = (("reasoning_summary", REASONING_SUMMARIES), ("reasoning_effort", REASONING_EFFORTS))

    @classmethod
    def _config_kwargs(cls, pc: ProviderConfig) -> dict[str, Any]:
        return {"reasoning_summary": pc.reasoning_summary, "reasoning_effort": pc.reasoning_effort}


    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        reasoning_summary: str | None = None,
        reasoning_effort: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, base_url, api_key, **kwargs)
        self.reasoning_summary = reasoning_summary
        self.reasoning_effort = reasoning_effort

    @property
    def url(self) -> str:
        if self.base_url.endswith("/responses"):
            return self.base_url
        return self.base_url + "/responses"

    def _prepare(self, request: StreamRequest) -> tuple[str, dict[str, str], dict[str, Any]]:
        system = [m.content for m in request.messages if m.role == "system" and m.content]
        body: dict[str, Any] = {
            "model": request.model,
            "input": [
                {"role": m.role, "content": responses_content(m.content, m.attachments, m.role)}
                for m in request.messages
                if m.role != "system" and (m.content or m.attachments)
            ],
            "stream": True,
        }
        if system:
            body["instructions"] = "\n\n".join(system)
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        reasoning: dict[str, str] = {}
        if self.reasoning_effort:
            reasoning["effort"] = self.reasoning_effort
        if self.reasoning_summary:
            reasoning["summary"] = self.reasoning_summary
        if reasoning:
            body["reasoning"] = reasoning
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return self.url, headers, body

    async def _events(self, response: httpx.Response, request: StreamRequest) -> AsyncIterator[ProviderEvent]:
        stats = request.stats
        decoder = SSEDecoder()
        state = _State()
        loads = json.loads
        async for chunk in response.aiter_bytes():
            stats.bytes += len(chunk)
            for event in decoder.feed(chunk):
                stats.events += 1
                data = event.data
                if data.strip() == "[DONE]":  # some compatible servers add one; the terminal event decides
                    continue
                try:
                    obj = loads(data)
                except ValueError:
                    raise self.malformed(data) from None
                if not isinstance(obj, dict):
                    raise self.malformed(data)
                kind = obj.get("type")
                if not isinstance(kind, str):
                    kind = event.event if event.event != "message" else ""
                for item in self._event(kind, obj, state):
                    yield item
                if state.done:
                    return
        decoder.close()  # a bad line at the very end
        raise self.truncated("response.completed", stats)

    def _event(self, kind: str, obj: dict, state: _State) -> list[ProviderEvent]:
        if kind == "response.output_text.delta":
            return _text(obj.get("delta"))
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            delta = obj.get("delta")
            if not isinstance(delta, str) or not delta:
                return []
            part = (obj.get("item_id"), obj.get("summary_index"), kind)
            out: list[ProviderEvent] = []
            if state.reasoning_part is not None and part != state.reasoning_part:
                out.append(ReasoningDelta("\n\n"))
            state.reasoning_part = part
            out.append(ReasoningDelta(delta))
            return out
        if kind == "response.refusal.delta":
            state.refused = True
            return _refusal(obj.get("delta"))
        if kind == "response.refusal.done" and not state.refused:
            state.refused = True  # a server that sends the refusal only whole
            return _refusal(obj.get("refusal"))
        if kind in _TERMINAL:
            state.done = True
            resp = obj.get("response") if isinstance(obj.get("response"), dict) else {}
            out = []
            usage = resp.get("usage")
            if isinstance(usage, dict):
                out.append(usage_update(usage))
            if kind == "response.failed":
                raise self._failure(resp.get("error"), status=resp.get("status"))
            if kind == "response.incomplete":
                details = resp.get("incomplete_details")
                reason = details.get("reason") if isinstance(details, dict) else None
                out.append(Finish(_INCOMPLETE.get(str(reason), str(reason) if reason else "incomplete")))
            elif state.refused:
                out.append(Finish("refusal"))
            else:
                out.append(Finish("tool_calls" if state.tool_calls else "stop"))
            return out
        if kind == "error":
            raise self._failure(obj.get("error") if isinstance(obj.get("error"), dict) else obj)
        if kind == "response.output_item.done":
            item = obj.get("item")
            if isinstance(item, dict) and item.get("type") in _CALLS:
                state.tool_calls += 1
                return [_tool_call(item)]
        # response.created / in_progress / output_item.added / content_part.* / *.done /
        # argument deltas (the whole call comes with output_item.done): nothing to show.
        return []

    def _failure(self, error: Any, status: Any = None) -> StreamError:
        if not isinstance(error, dict):
            return StreamError(
                ErrorType.SERVER_ERROR,
                f"the response {status or 'failed'} without an error message",
                provider=self.name,
            )
        message = error.get("message")
        etype = error.get("type")
        code = error.get("code")
        return classify_error_payload(
            str(message) if message else None,
            str(etype) if etype and etype != "error" else None,
            str(code) if code is not None else None,
            provider=self.name,
            secrets=self.secrets,
        )

    def _events_from_json(self, data: Any, request: StreamRequest) -> list[ProviderEvent]:
        """A server that ignored ``stream: true`` and sent the whole response object."""
        if not isinstance(data, dict):
            raise self.malformed(json.dumps(data)[:200])
        request.stats.events += 1
        if data.get("error") and data.get("object") != "response":
            raise self._failure(data["error"])
        status = data.get("status")
        if status == "failed":
            raise self._failure(data.get("error"), status=status)
        output = data.get("output")
        if not isinstance(output, list):
            raise StreamError(ErrorType.API, "the server's JSON reply has no output", provider=self.name)
        events: list[ProviderEvent] = []
        refused = False
        calls = 0
        summaries: list[str] = []
        for item in output:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "reasoning":
                for part in item.get("summary") or item.get("content") or []:
                    if isinstance(part, dict) and isinstance(part.get("text"), str) and part["text"]:
                        summaries.append(part["text"])
            elif item.get("type") == "message":
                for part in item.get("content") or []:
                    if not isinstance(part, dict):
                        continue
                    if part.get("type") == "output_text":
                        events.extend(_text(part.get("text")))
                    elif part.get("type") == "refusal":
                        refused = True
                        events.extend(_refusal(part.get("refusal")))
            elif item.get("type") in _CALLS:
                calls += 1
                events.append(_tool_call(item))
        if summaries:
            events.insert(0, ReasoningDelta("\n\n".join(summaries)))
        usage = data.get("usage")
        if isinstance(usage, dict):
            events.append(usage_update(usage))
        if status == "incomplete":
            details = data.get("incomplete_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            events.append(Finish(_INCOMPLETE.get(str(reason), str(reason) if reason else "incomplete")))
        else:
            events.append(Finish("refusal" if refused else "tool_calls" if calls else "stop"))
        return events


class _State:
    __slots__ = ("done", "refused", "reasoning_part", "tool_calls")

    def __init__(self) -> None:
        self.done = False
        self.refused = False
        self.reasoning_part: tuple | None = None
        self.tool_calls = 0


# Output items that are a call the model asks the client (or a hosted tool) to make.
_CALLS = frozenset({"function_call", "custom_tool_call", "local_shell_call", "shell_call", "apply_patch_call",
                    "mcp_call", "web_search_call", "file_search_call", "code_interpreter_call",
                    "image_generation_call", "computer_call"})
_CLIENT_CALLS = frozenset({"function_call", "custom_tool_call", "local_shell_call", "shell_call",
                           "apply_patch_call", "computer_call"})  # the others OpenAI runs itself


def _text(value: Any) -> list[ProviderEvent]:
    return [TextDelta(value)] if isinstance(value, str) and value else []


def _refusal(value: Any) -> list[ProviderEvent]:
    return [RefusalDelta(value)] if isinstance(value, str) and value else []


def _tool_call(item: dict) -> ToolCallDelta:
    """A whole call from its ``output_item.done`` (the argument deltas before it add nothing)."""
    args = item.get("arguments")
    if args is None:
        args = item.get("input") or item.get("action")
    if not isinstance(args, str):
        args = json.dumps(args, ensure_ascii=False) if args is not None else ""
    kind = item.get("type")
    name = item.get("name") or item.get("server_label") or kind
    return ToolCallDelta(
        str(item.get("id") or item.get("call_id") or name),
        id=item.get("call_id") or item.get("id"),
        name=str(name),
        arguments=args,
        server=kind not in _CLIENT_CALLS,
    )


def usage_update(usage: dict) -> UsageUpdate:
    """A Responses ``usage`` object. ``input_tokens`` already includes the cached ones."""
    details_in = usage.get("input_tokens_details")
    details_out = usage.get("output_tokens_details")
    cached = as_int(details_in.get("cached_tokens")) if isinstance(details_in, dict) else None
    reasoning = as_int(details_out.get("reasoning_tokens")) if isinstance(details_out, dict) else None
    return UsageUpdate(as_int(usage.get("input_tokens")), as_int(usage.get("output_tokens")),
                       cached_tokens=cached or None, reasoning_tokens=reasoning or None)
