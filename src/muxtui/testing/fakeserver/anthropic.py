"""The Anthropic Messages dialect of the fake server (``POST /v1/messages``): the streamed
events (``AnthropicWire``), the real API's error bodies, the non-streaming reply and the
paged model list."""

from __future__ import annotations

import json
import time
from typing import Any

from muxtui.testing.fakeserver.scenario import Scenario

__all__ = ["FINISH", "AnthropicWire", "anthropic_error", "completion", "invalid", "model_page"]

FINISH = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}


class AnthropicWire:
    def __init__(self, sc: Scenario, request_json: dict, rid: str) -> None:
        self.sc = sc
        self.mid = "msg_" + rid[4:28]
        self.index = 0
        self.input_tokens = 0

    @staticmethod
    def _ev(name: str, payload: dict) -> bytes:
        return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()

    def start(self, usage: dict[str, int] | None) -> list[bytes]:
        message: dict[str, Any] = {
            "id": self.mid,
            "type": "message",
            "role": "assistant",
            "model": self.sc.name,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if usage is not None:
            message["usage"] = {"input_tokens": usage["input_tokens"], "output_tokens": 1}
        block = {"type": "thinking", "thinking": ""} if self.sc.reasoning else {"type": "text", "text": ""}
        return [
            self._ev("message_start", {"type": "message_start", "message": message}),
            self._ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
            self._ev("ping", {"type": "ping"}),
        ]

    def reasoning(self, text: str) -> bytes:
        return (
            'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            '"delta":{"type":"thinking_delta","thinking":' + json.dumps(text) + "}}\n\n"
        ).encode()

    def reasoning_end(self) -> list[bytes]:
        self.index = 1
        return [
            self._ev(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "ZmFrZQ=="}},
            ),
            self._ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
            self._ev(
                "content_block_start",
                {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
            ),
        ]

    def content(self, text: str) -> bytes:
        return (
            f'event: content_block_delta\ndata: {{"type":"content_block_delta","index":{self.index},'
            '"delta":{"type":"text_delta","text":' + json.dumps(text) + "}}\n\n"
        ).encode()

    def tail(self, usage: dict[str, int] | None) -> list[bytes]:
        reason = FINISH.get(self.sc.finish, self.sc.finish)
        delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None}}
        if usage is not None:
            delta["usage"] = {"output_tokens": usage["output_tokens"]}
        out = [
            self._ev("content_block_stop", {"type": "content_block_stop", "index": self.index}),
            self._ev("message_delta", delta),
        ]
        if self.sc.done:
            out.append(self._ev("message_stop", {"type": "message_stop"}))
        return out

    def error_event(self) -> bytes:
        return self._ev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})

    def malformed(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_del\n\n'


def anthropic_error(sc: Scenario, status: int, key: str | None, rid: str) -> dict:
    credit = (
        "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits."
    )
    if sc.context:
        etype, message = "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"
    elif sc.quota and status in (400, 402, 429):
        etype, message = ("billing_error" if status != 400 else "invalid_request_error"), credit
    else:
        etype, message = {
            400: ("invalid_request_error", "Invalid request."),
            401: ("authentication_error", "invalid x-api-key"),
            402: ("billing_error", credit),
            403: ("permission_error", "Your API key does not have permission to use the specified resource."),
            404: ("not_found_error", f"model: {sc.name}"),
            413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
            429: (
                "rate_limit_error",
                "Number of requests has exceeded your per-minute rate limit. Please try again later.",
            ),
            500: ("api_error", "Internal server error"),
            503: ("overloaded_error", "Overloaded"),
            529: ("overloaded_error", "Overloaded"),
        }.get(status, ("api_error", f"Request failed with status {status}."))
    if sc.echo_key:
        message += f" (received key: {key})"
    return {"type": "error", "error": {"type": etype, "message": message}, "request_id": rid}


def invalid(message: str, rid: str) -> dict:
    """The body of a 400 for a request the fake server cannot serve."""
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}, "request_id": rid}


def completion(sc: Scenario, rid: str, text: str, reasoning: str, usage: dict[str, int]) -> dict:
    """A non-streaming message."""
    content: list[dict] = []
    if reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": "ZmFrZQ=="})
    content.append({"type": "text", "text": text})
    return {
        "id": "msg_" + rid[4:28],
        "type": "message",
        "role": "assistant",
        "model": sc.name,
        "content": content,
        "stop_reason": FINISH.get(sc.finish, sc.finish),
        "stop_sequence": None,
        "usage": {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]},
    }


def model_page(ids: list[str], query: dict[str, str], now: int) -> dict:
    """``GET /v1/models`` pages: ``limit`` and ``after_id`` in, ``has_more`` and ``last_id`` out."""
    limit = max(1, min(1000, int(query.get("limit") or 20)))
    start = ids.index(query["after_id"]) + 1 if query.get("after_id") in ids else 0
    page = ids[start : start + limit]
    data: list[dict[str, Any]] = [
        {"type": "model", "id": m, "display_name": m.replace("-", " ").title(),
         "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}
        for m in page
    ]
    return {
        "data": data, "has_more": start + limit < len(ids),
        "first_id": page[0] if page else None, "last_id": page[-1] if page else None,
    }
