"""The OpenAI Responses dialect of the fake server (``POST /v1/responses``): the typed event
stream (``ResponsesWire``), request validation and the non-streaming reply. Errors and the
model list are OpenAI's (openai.py)."""

from __future__ import annotations

import json
import time
from typing import Any

from muxtui.testing.fakeserver.content import content_problem
from muxtui.testing.fakeserver.scenario import Scenario

__all__ = ["ResponsesWire", "completion", "validate"]


class ResponsesWire:
    """OpenAI's Responses API stream: typed events, no [DONE]; the terminal event follows
    ``finish``: stop -> response.completed, length -> response.incomplete (max_output_tokens),
    content_filter -> response.incomplete (content_filter), refusal -> the text streams as
    response.refusal.delta, then response.completed; failed -> response.failed."""

    def __init__(self, sc: Scenario, request_json: dict, rid: str) -> None:
        self.sc = sc
        self.resp_id = "resp_" + rid[4:28]
        self.msg_id = "msg_" + rid[4:28]
        self.rs_id = "rs_" + rid[4:28]
        self.seq = 0
        self.request_json = request_json
        self.text: list[str] = []
        self.refusal = sc.finish == "refusal"

    def _ev(self, name: str, payload: dict) -> bytes:
        payload = {"type": name, **payload, "sequence_number": self.seq}
        self.seq += 1
        return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()

    def _response(self, status: str, **extra: Any) -> dict:
        body: dict[str, Any] = {
            "id": self.resp_id, "object": "response", "created_at": int(time.time()), "status": status,
            "error": None, "incomplete_details": None, "instructions": self.request_json.get("instructions"),
            "max_output_tokens": self.request_json.get("max_output_tokens"), "model": self.sc.name,
            "output": [], "reasoning": self.request_json.get("reasoning") or {"effort": None, "summary": None},
            "store": True, "usage": None,
        }
        body.update(extra)
        return body

    def _message_start(self) -> list[bytes]:
        item = {"id": self.msg_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
        part = {"type": "refusal", "refusal": ""} if self.refusal else {"type": "output_text", "annotations": [], "text": ""}
        return [
            self._ev("response.output_item.added", {"output_index": 1 if self.sc.reasoning else 0, "item": item}),
            self._ev("response.content_part.added", {"item_id": self.msg_id, "output_index": 1 if self.sc.reasoning else 0,
                                                     "content_index": 0, "part": part}),
        ]

    def start(self, usage: dict[str, int] | None) -> list[bytes]:
        out = [
            self._ev("response.created", {"response": self._response("in_progress")}),
            self._ev("response.in_progress", {"response": self._response("in_progress")}),
        ]
        if self.sc.reasoning:
            out.append(self._ev("response.output_item.added", {
                "output_index": 0, "item": {"id": self.rs_id, "type": "reasoning", "summary": []}}))
            out.append(self._ev("response.reasoning_summary_part.added", {
                "item_id": self.rs_id, "output_index": 0, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}))
        else:
            out.extend(self._message_start())
        return out

    def reasoning(self, text: str) -> bytes:
        return self._ev("response.reasoning_summary_text.delta",
                        {"item_id": self.rs_id, "output_index": 0, "summary_index": 0, "delta": text})

    def reasoning_end(self) -> list[bytes]:
        return [
            self._ev("response.reasoning_summary_part.done", {"item_id": self.rs_id, "output_index": 0, "summary_index": 0}),
            self._ev("response.output_item.done", {"output_index": 0, "item": {"id": self.rs_id, "type": "reasoning"}}),
            *self._message_start(),
        ]

    def content(self, text: str) -> bytes:
        self.text.append(text)
        index = 1 if self.sc.reasoning else 0
        name = "response.refusal.delta" if self.refusal else "response.output_text.delta"
        return self._ev(name, {"item_id": self.msg_id, "output_index": index, "content_index": 0, "delta": text})

    def tail(self, usage: dict[str, int] | None) -> list[bytes]:
        text = "".join(self.text)
        index = 1 if self.sc.reasoning else 0
        if self.refusal:
            part = {"type": "refusal", "refusal": text}
            done = self._ev("response.refusal.done", {"item_id": self.msg_id, "output_index": index,
                                                      "content_index": 0, "refusal": text})
        else:
            part = {"type": "output_text", "annotations": [], "text": text}
            done = self._ev("response.output_text.done", {"item_id": self.msg_id, "output_index": index,
                                                          "content_index": 0, "text": text})
        item = {"id": self.msg_id, "type": "message", "status": "completed", "content": [part], "role": "assistant"}
        out = [
            done,
            self._ev("response.content_part.done", {"item_id": self.msg_id, "output_index": index,
                                                    "content_index": 0, "part": part}),
            self._ev("response.output_item.done", {"output_index": index, "item": item}),
        ]
        if not self.sc.done:
            return out
        u = None
        if usage is not None:
            u = {
                "input_tokens": usage["input_tokens"],
                "input_tokens_details": {"cached_tokens": usage["input_tokens"] // 2},
                "output_tokens": usage["output_tokens"],
                "output_tokens_details": {"reasoning_tokens": self.sc.reasoning},
                "total_tokens": usage["input_tokens"] + usage["output_tokens"],
            }
        finish = self.sc.finish
        if finish in ("length", "content_filter"):
            reason = "max_output_tokens" if finish == "length" else "content_filter"
            resp = self._response("incomplete", incomplete_details={"reason": reason}, output=[item], usage=u)
            out.append(self._ev("response.incomplete", {"response": resp}))
        elif finish == "failed":
            resp = self._response("failed", error={"code": "server_error", "message": "The model failed to generate a response."},
                                  usage=u)
            out.append(self._ev("response.failed", {"response": resp}))
        else:
            resp = self._response("completed", output=[item], usage=u)
            out.append(self._ev("response.completed", {"response": resp}))
        return out

    def error_event(self) -> bytes:
        return self._ev("error", {"code": "server_error", "message": "The server had an error while processing your request.",
                                  "param": None})

    def malformed(self) -> bytes:
        return b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"cut sh\n\n'


def validate(payload: dict) -> str | None:
    """What the real API refuses in a request body, or None."""
    if "messages" in payload:
        return "messages: unknown parameter (the Responses API takes input)"
    items = payload.get("input")
    if isinstance(items, str):
        return None if items else "input: must not be empty"
    if not isinstance(items, list) or not items:
        return "input: at least one item is required"
    for i, m in enumerate(items):
        if not isinstance(m, dict) or "content" not in m:
            return f"input.{i}: content is required"
        if m.get("role") not in ("system", "developer", "user", "assistant"):
            return f"input.{i}.role: invalid role {m.get('role')!r}"
        problem = content_problem("responses", m["content"], f"input.{i}", m["role"])
        if problem:
            return problem
    return None


def completion(sc: Scenario, rid: str, text: str, reasoning: str, usage: dict[str, int]) -> dict:
    """A non-streaming Responses API reply."""
    output: list[dict[str, Any]] = []
    if reasoning:
        output.append({"id": "rs_" + rid[4:28], "type": "reasoning",
                       "summary": [{"type": "summary_text", "text": reasoning}]})
    part = {"type": "refusal", "refusal": text} if sc.finish == "refusal" else \
        {"type": "output_text", "annotations": [], "text": text}
    output.append({"id": "msg_" + rid[4:28], "type": "message", "status": "completed", "role": "assistant",
                   "content": [part]})
    status, details = "completed", None
    if sc.finish in ("length", "content_filter"):
        status, details = "incomplete", {"reason": "max_output_tokens" if sc.finish == "length" else "content_filter"}
    return {
        "id": "resp_" + rid[4:28], "object": "response", "created_at": int(time.time()), "status": status,
        "error": None, "incomplete_details": details, "model": sc.name, "output": output,
        "usage": {"input_tokens": usage["input_tokens"], "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": usage["output_tokens"],
                  "output_tokens_details": {"reasoning_tokens": len(sc.reasoning_chunks())},
                  "total_tokens": usage["input_tokens"] + usage["output_tokens"]},
    }

