"""A local fake of the OpenAI and Anthropic streaming APIs, with exact, scriptable faults.

A hand-written HTTP/1.1 server on ``asyncio.start_server`` (no framework, so every byte and
every fault is under control), running its own event loop in a daemon thread: sync tests,
async tests on another loop, subprocesses and benchmarks can all use one instance.

    srv = FakeServer().start()
    srv.openai_base_url      # client POSTs {that}/chat/completions
    srv.anthropic_base_url   # client POSTs {that}/v1/messages
    srv.openai_base_url      # also {that}/responses (OpenAI's Responses API) and GET {that}/models
    ...
    srv.stop()

Standalone: ``python -m muxtui.testing.fakeserver --port N`` prints the base URL and
serves until killed.

**The scenario is the model name**: ``name?key=value&key=value`` (see ``Scenario``), so a
subprocess or the real app can drive every fault with no in-process control. Examples:

    fake?chunks=200&delay_ms=5          slow stream of 200 chunks
    fake?status=429&retry_after=3       rate limited, Retry-After: 3
    fake?fault=drop&after=10            TCP connection aborted after 10 chunks
    fake?pause_after=5&gate=g1          stop after 5 chunks until srv.release("g1")
    fake?status=503&fail_first=2        503 twice (for this exact model string), then OK
    replay:<fixture>                    a recorded response from tests/fixtures/streams, byte
                                        for byte (see muxtui.testing.replay)

A request without a model name (``GET /v1/models``) takes its options from a URL prefix:
``{base_url}/x/models_status=404/v1`` answers 404 there and serves chat requests as usual
(see ``FakeServer._models``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

from muxtui.testing import markdown_mix, replay

__all__ = ["FakeServer", "Scenario", "parse_scenario", "ScenarioError", "FAULTS", "main"]

FAULTS = frozenset({"drop", "reset", "close", "malformed", "garbage", "hang_headers", "hang", "error_event"})
MODELS = ("fake-model", "fake-model-large", "fake-thinker")
MAX_BODY = 64 * 1024 * 1024
BATCH_EVENTS = 256  # events per write when no delay is set
BATCH_BYTES = 256 * 1024

_ANTHROPIC_FINISH = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}
_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
    422: "Unprocessable Entity", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 529: "Overloaded",
}
# Content chunks for surrogate=...: json.dumps writes each surrogate as a "\uXXXX" escape,
# exactly the bytes such servers send (a Python str may hold a lone surrogate; UTF-8 may not).
SURROGATE_CHUNKS = {
    "split": ("Smile ", "\ud83d", "\ude00 done"),
    "lone": ("bad ", "\udc80", " byte, then done"),
    "high": ("half ", "\ud83d", " an emoji, then done"),
}
_HUGE_BLOCK = (
    "This is a very large single chunk of streamed text, used to test that every layer copes "
    "with one enormous delta without quadratic behaviour or unbounded buffering. "
) * 6 + "\n\n"


class ScenarioError(ValueError):
    """A model string whose ``?key=value`` part cannot be understood."""


@dataclass
class Scenario:
    """What the server does for one request, parsed from the model name ``name?k=v&...``.

    chunks=N (20)       content chunks of markdown_mix.generate(N, seed); seed=S (0)
    text=T              literal reply, in chunks of 4 characters (instead of chunks/seed)
    shape=NAME          a hostile reply shape (muxtui.testing.hostile_markdown: code_4k,
                        unclosed_fence, table...) in chunks of size=N characters (20);
                        scale=F (1) shrinks or grows the big shapes
    delay_ms=D (0)      pause between chunks; first_delay_ms=D before the first one
    reasoning=N (0)     N reasoning chunks first (reasoning_content / thinking_delta)
    usage=0|1 (1)       report token usage; finish=stop|length|content_filter (stop);
                        on /v1/responses also finish=refusal (response.refusal.delta)
                        and finish=failed (response.failed)
    done=0|1 (1)        0: omit the end marker ([DONE] / message_stop), after the finish
    status=CODE         answer with that HTTP status and the provider's real error body;
                        quota=1 (quota/billing wording), retry_after=S (header, seconds
                        or HTTP date), context=1 (a 400 context-length error),
                        echo_key=1 (the error message echoes the API key it received;
                        on a normal reply, the reply ends with the key, cut into
                        chunks of 5 characters: a key split across chunks)
    fail_first=K        status/context/fault only for the first K requests of this
                        exact model string, then normal replies
    fault=F&after=K     after K chunks (reasoning + content): drop (abort the TCP
                        connection), reset (RST), close (end the body cleanly with no end
                        marker), malformed (a bad JSON line, then go on), garbage (a
                        non-UTF-8 line, then go on), hang (stay silent, connection open),
                        error_event (the provider's mid-stream error event, then end);
                        fault=hang_headers never answers at all
    huge=BYTES          one content chunk of that many characters
    empty=1             a well-formed stream with no content
    pause_after=K&gate=NAME   after K chunks, wait for FakeServer.release(NAME)
    surrogate=S         UTF-16 surrogates as JSON escapes, as some servers send them:
                        split (an emoji's pair cut across two chunks: high half
                        D83D in one, low half DE00 at the start of the next), lone (a lone
                        low half DC80), high (a high half with no low half after it); see
                        SURROGATE_CHUNKS
    """

    model: str  # the whole model string, as sent
    name: str  # the part before "?"
    chunks: int = 20
    seed: int = 0
    text: str | None = None
    shape: str | None = None
    size: int = 20
    scale: float = 1.0
    delay_ms: float = 0.0
    first_delay_ms: float = 0.0
    reasoning: int = 0
    usage: bool = True
    finish: str = "stop"
    done: bool = True
    status: int | None = None
    quota: bool = False
    retry_after: str | None = None
    context: bool = False
    echo_key: bool = False
    fail_first: int | None = None
    fault: str | None = None
    after: int = 0
    huge: int | None = None
    empty: bool = False
    pause_after: int | None = None
    gate: str | None = None
    received_key: str | None = None  # set by the server from the request, for echo_key
    surrogate: str | None = None

    def content_chunks(self) -> list[str]:
        if self.empty:
            return []
        if self.huge is not None:
            reps = self.huge // len(_HUGE_BLOCK) + 1
            chunks = [(_HUGE_BLOCK * reps)[: self.huge]]
        elif self.surrogate is not None:
            chunks = list(SURROGATE_CHUNKS[self.surrogate])
        elif self.text is not None:
            chunks = [self.text[i : i + 4] for i in range(0, len(self.text), 4)]
        elif self.shape is not None:
            from muxtui.testing import hostile_markdown

            text = hostile_markdown.shape(self.shape, self.scale)[1]
            chunks = [text[i : i + self.size] for i in range(0, len(text), self.size)]
        else:
            chunks = markdown_mix.generate(self.chunks, self.seed)
        if self.echo_key and self.received_key:
            echo = f"\n\nYour key is {self.received_key} (echoed)."
            chunks = chunks + [echo[i : i + 5] for i in range(0, len(echo), 5)]
        return chunks

    def reasoning_chunks(self) -> list[str]:
        words = (
            "Let me think about this step by step. The user wants a clear answer, so I will "
            "outline the idea first, check the edge cases, and then write it up. "
        ).split(" ")
        return [(" " if i else "") + words[i % len(words)] for i in range(self.reasoning)]


def parse_scenario(model: str) -> Scenario:
    """``name?key=value&...`` to a Scenario; unknown keys or bad values raise ScenarioError."""
    name, _, query = model.partition("?")
    sc = Scenario(model=model, name=name)
    if not query:
        return sc
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise ScenarioError(f"bad scenario query {query!r}: {exc}") from None
    ints = {"chunks", "seed", "reasoning", "status", "fail_first", "after", "huge", "pause_after", "size"}
    floats = {"delay_ms", "first_delay_ms", "scale"}
    bools = {"usage", "quota", "context", "empty", "echo_key", "done"}
    strs = {"text", "finish", "retry_after", "fault", "gate", "surrogate", "shape"}
    for key, values in params.items():
        value = values[-1]
        try:
            if key in ints:
                setattr(sc, key, int(value))
            elif key in floats:
                setattr(sc, key, float(value))
            elif key in bools:
                setattr(sc, key, value.lower() not in ("0", "false", "no", "off", ""))
            elif key in strs:
                setattr(sc, key, value)
            else:
                raise ScenarioError(f"unknown scenario key {key!r} in model {model!r}")
        except ValueError as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise ScenarioError(f"bad value {value!r} for scenario key {key!r}") from None
    if sc.fault is not None and sc.fault not in FAULTS:
        raise ScenarioError(f"unknown fault {sc.fault!r}; one of {sorted(FAULTS)}")
    if sc.surrogate is not None and sc.surrogate not in SURROGATE_CHUNKS:
        raise ScenarioError(f"unknown surrogate case {sc.surrogate!r}; one of {sorted(SURROGATE_CHUNKS)}")
    if sc.shape is not None:
        from muxtui.testing import hostile_markdown

        if sc.shape not in hostile_markdown.SHAPES:
            raise ScenarioError(f"unknown shape {sc.shape!r}; one of {list(hostile_markdown.SHAPES)}")
        if sc.size < 1 or not 0 < sc.scale <= 10:
            raise ScenarioError("shape needs size >= 1 and 0 < scale <= 10")
    if sc.pause_after is not None and not sc.gate:
        raise ScenarioError("pause_after needs gate=NAME")
    if sc.chunks < 0 or sc.reasoning < 0 or sc.after < 0 or (sc.huge is not None and sc.huge < 0):
        raise ScenarioError("counts must not be negative")
    return sc


# --------------------------------------------------------------------------- state


class _Gate:
    __slots__ = ("reached", "released", "released_flag")

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.released = asyncio.Event()  # set on the server loop only
        self.released_flag = False


@dataclass
class _Record:
    data: dict[str, Any]
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)


class _ClientGone(Exception):
    """The client closed the connection; stop serving it quietly."""


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Request:
    method: str
    target: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


# --------------------------------------------------------------------------- wire formats


class _OpenAIWire:
    def __init__(self, sc: Scenario, request_json: dict, rid: str) -> None:
        self.sc = sc
        opts = request_json.get("stream_options")
        self.include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        cid = "chatcmpl-" + rid[4:28]
        created = int(time.time())
        model = json.dumps(sc.name)
        self._pre = (
            f'data: {{"id":"{cid}","object":"chat.completion.chunk","created":{created},'
            f'"model":{model},"system_fingerprint":"fp_fake","choices":[{{"index":0,"delta":{{'
        )
        self._post = '},"logprobs":null,"finish_reason":null}]}\n\n'
        self._bare = (
            f'data: {{"id":"{cid}","object":"chat.completion.chunk","created":{created},'
            f'"model":{model},"system_fingerprint":"fp_fake",'
        )

    def head(self) -> list[bytes]:
        return [(self._pre + '"role":"assistant","content":"","refusal":null' + self._post).encode()]

    def reasoning(self, text: str) -> bytes:
        return (self._pre + '"reasoning_content":' + json.dumps(text) + self._post).encode()

    def reasoning_end(self) -> list[bytes]:
        return []

    def content(self, text: str) -> bytes:
        return (self._pre + '"content":' + json.dumps(text) + self._post).encode()

    def tail(self, usage: dict[str, int] | None) -> list[bytes]:
        finish = json.dumps(self.sc.finish)
        out = [
            (
                self._bare
                + f'"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":{finish}}}]}}\n\n'
            ).encode()
        ]
        if usage is not None and self.include_usage:
            u = {
                "prompt_tokens": usage["input_tokens"],
                "completion_tokens": usage["output_tokens"],
                "total_tokens": usage["input_tokens"] + usage["output_tokens"],
            }
            out.append((self._bare + '"choices":[],"usage":' + json.dumps(u) + "}\n\n").encode())
        if self.sc.done:
            out.append(b"data: [DONE]\n\n")
        return out

    def error_event(self) -> bytes:
        err = {
            "error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        return ("data: " + json.dumps(err) + "\n\n").encode()

    def malformed(self) -> bytes:
        return (self._pre + '"content":"this chunk is cut sh\n\n').encode()


class _AnthropicWire:
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
        reason = _ANTHROPIC_FINISH.get(self.sc.finish, self.sc.finish)
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


class _ResponsesWire:
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


# --------------------------------------------------------------------------- error bodies


def _mask(key: str | None) -> str:
    if not key:
        return "(none)"
    return key[:3] + "*" * 8 + key[-4:] if len(key) > 8 else "****"


def _openai_error(sc: Scenario, status: int, key: str | None) -> dict:
    if sc.context:
        message, etype, code = (
            "This model's maximum context length is 128000 tokens. However, your messages resulted "
            "in 131072 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
        )
    elif status == 401:
        message, etype, code = (
            f"Incorrect API key provided: {_mask(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        )
    elif status == 402:
        message, etype, code = ("Insufficient credits: add credits to your account.", "billing_error", "payment_required")
    elif status == 403:
        message, etype, code = ("You are not allowed to sample from this model.", "invalid_request_error", "permission_denied")
    elif status == 404:
        message, etype, code = (
            f"The model `{sc.name}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    elif status == 429 and sc.quota:
        message, etype, code = (
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )
    elif status == 429:
        message, etype, code = (
            f"Rate limit reached for {sc.name} in organization org-fake on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1. Please try again in 20s.",
            "requests",
            "rate_limit_exceeded",
        )
    elif status == 500:
        message, etype, code = (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        )
    elif status in (502, 503, 529):
        message, etype, code = ("The engine is currently overloaded, please try again later.", "server_error", None)
    else:
        message, etype, code = (f"Request failed with status {status}.", "invalid_request_error", None)
    if sc.echo_key:
        message += f" (received key: {key})"
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def _anthropic_error(sc: Scenario, status: int, key: str | None, rid: str) -> dict:
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


# --------------------------------------------------------------------------- the server


class FakeServer:
    """See the module docstring. Thread-safe; ``start()`` returns self; a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        require_key: str | None = None,
        batch_events: int = BATCH_EVENTS,
    ) -> None:
        self.host = host
        self.port = port
        self.require_key = require_key
        self.batch_events = max(1, batch_events)
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []  # internal server errors (a test should expect none)
        self._records: list[_Record] = []
        self._counters: dict[str, int] = {}
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False

    # -- life cycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> FakeServer:
        if self.running:
            return self
        self._stopping = False
        with self._lock:  # after a restart, gate events must not be bound to the old loop
            for gate in self._gates.values():
                gate.released = asyncio.Event()
                if gate.released_flag:
                    gate.released.set()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                try:
                    loop.run_until_complete(self._acancel_all())
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._thread = threading.Thread(target=run, name=f"FakeServer:{self.port or 'auto'}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    async def _astart(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=256 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _acancel_all(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _astop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        await self._acancel_all()
        if self._server is not None:
            await self._server.wait_closed()

    def stop(self) -> None:
        """Close the listener and every connection (streams in flight end), join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=10)
            except RuntimeError:
                pass  # the loop already stopped
            finally:
                try:
                    loop.call_soon_threadsafe(loop.stop)
                except RuntimeError:
                    pass
        thread.join(timeout=10)
        self._thread = None
        self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls

    def reset(self) -> None:
        """Forget requests, per-model counters and gates (releasing any paused stream)."""
        with self._lock:
            gates = list(self._gates.values())
            self.requests.clear()
            self._records.clear()
            self._counters.clear()
            self._gates.clear()
            self.errors.clear()
        for gate in gates:
            self._set_released(gate)

    def sent_text(self, request_index: int) -> str:
        """The reply text (content, not reasoning) written to the socket for that request.

        Recorded just before each write: it always holds everything a client has received,
        and equals it once the client saw the end, a fault, or a gate was reached.
        """
        with self._lock:
            return "".join(self._records[request_index].text)

    def sent_reasoning(self, request_index: int) -> str:
        with self._lock:
            return "".join(self._records[request_index].reasoning)

    def _gate(self, name: str) -> _Gate:
        with self._lock:
            gate = self._gates.get(name)
            if gate is None:
                gate = self._gates[name] = _Gate()
            return gate

    def wait_reached(self, name: str, timeout: float = 10) -> None:
        """Block until some stream paused at gate ``name`` (TimeoutError otherwise)."""
        if not self._gate(name).reached.wait(timeout):
            raise TimeoutError(f"no stream reached gate {name!r} within {timeout} s")

    async def areached(self, name: str, timeout: float = 10) -> None:
        await asyncio.to_thread(self.wait_reached, name, timeout)

    def reached(self, name: str) -> bool:
        return self._gate(name).reached.is_set()

    def release(self, name: str) -> None:
        """Let streams paused at gate ``name`` go on (also ones that reach it later)."""
        self._set_released(self._gate(name))

    def _set_released(self, gate: _Gate) -> None:
        gate.released_flag = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(gate.released.set)
            except RuntimeError:
                pass

    def request_index(self, model: str) -> int:
        """Index of the latest recorded request whose model string is ``model``."""
        with self._lock:
            for i in range(len(self.requests) - 1, -1, -1):
                if self.requests[i].get("model") == model:
                    return i
        raise KeyError(f"no request for model {model!r}")

    def wait_requests(self, count: int, timeout: float = 10) -> None:
        """Block until at least ``count`` requests were recorded."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} requests after {timeout} s, wanted {count}")

    # -- connection handling (server loop only)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        transport = writer.transport
        transport.set_write_buffer_limits(high=0)  # drain() = everything handed to the kernel
        try:
            while not self._stopping:
                try:
                    req = await self._read_request(reader)
                except _BadRequest as exc:
                    await self._simple(writer, exc.status, "text/plain", str(exc).encode(), keep_alive=False)
                    break
                if req is None:
                    break
                if not await self._dispatch(req, reader, writer) or not req.keep_alive:
                    break
        except (_ClientGone, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): the finally clause drops the connection
        except Exception as exc:  # noqa: BLE001 - a server bug: record it for the tests
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self._tasks.discard(task)
            if self._stopping:
                transport.abort()
            elif not transport.is_closing():
                transport.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> _Request | None:
        try:
            first = await reader.readexactly(1)
        except asyncio.IncompleteReadError:
            return None  # the client closed an idle keep-alive connection
        if not (65 <= first[0] <= 90):
            # Not an HTTP method (e.g. a TLS ClientHello starts with 0x16): answer at once,
            # as real servers do, rather than wait for a blank line that never comes.
            raise _BadRequest(400, "not an HTTP/1.1 request")
        try:
            head = first + await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            raise _BadRequest(400, "incomplete request head") from None
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "request head too large") from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, f"bad request line {lines[0][:100]!r}")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(400, "bad header line")
            name = name.strip().lower()
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
        body = b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts_: list[bytes] = []
            total = 0
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    raise _BadRequest(413, "request body too large")
                parts_.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts_)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise _BadRequest(400, "bad content-length") from None
            if length > MAX_BODY:
                raise _BadRequest(413, "request body too large")
            body = await reader.readexactly(length)
        return _Request(method, target, target.split("?", 1)[0], version, headers, body)

    async def _simple(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        ctype: str,
        body: bytes,
        *,
        extra: dict[str, str] | None = None,
        keep_alive: bool = True,
    ) -> None:
        headers = {
            "content-type": ctype,
            "content-length": str(len(body)),
            "connection": "keep-alive" if keep_alive else "close",
            **(extra or {}),
        }
        self._write_head(writer, status, headers)
        writer.write(body)
        await self._drain(writer)

    @staticmethod
    def _write_head(writer: asyncio.StreamWriter, status: int, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        lines.append("date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
        lines.append("server: muxtui-fakeserver")
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    @staticmethod
    async def _drain(writer: asyncio.StreamWriter) -> None:
        if writer.transport.is_closing():
            raise _ClientGone()
        await writer.drain()

    async def _json(
        self, writer: asyncio.StreamWriter, status: int, payload: Any, extra: dict[str, str] | None = None
    ) -> None:
        await self._simple(writer, status, "application/json", json.dumps(payload).encode(), extra=extra)

    def _record(self, req: _Request, protocol: str | None, payload: Any, sc: Scenario | None, rid: str) -> _Record:
        rec = _Record(
            {
                "index": -1,
                "method": req.method,
                "path": req.path,
                "headers": dict(req.headers),
                "json": payload,
                "model": sc.model if sc else (payload.get("model") if isinstance(payload, dict) else None),
                "scenario": asdict(sc) if sc else None,
                "protocol": protocol,
                "request_id": rid,
                "usage": None,
                "received_at": time.monotonic(),  # CLOCK_MONOTONIC: comparable across processes (bench)
            }
        )
        with self._cond:
            rec.data["index"] = len(self.requests)
            self.requests.append(rec.data)
            self._records.append(rec)
            self._cond.notify_all()
        return rec

    async def _dispatch(self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection must not be reused."""
        rid = "req_" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
        opts = _route_options(req)
        if req.path == "/v1/models":
            return await self._models(req, reader, writer, rid, opts)
        protocol = _PROTOCOLS.get(req.path)
        if protocol is None:
            self._record(req, None, None, None, rid)
            await self._simple(writer, 404, "text/plain; charset=utf-8", b"404 page not found\n")
            return True
        id_header = {"request-id": rid} if protocol == "anthropic" else {"x-request-id": rid}
        if req.method != "POST":
            self._record(req, protocol, None, None, rid)
            await self._json(writer, 405, {"error": {"message": "Method not allowed", "type": "invalid_request_error"}})
            return True
        try:
            payload = json.loads(req.body)
        except ValueError:
            self._record(req, protocol, None, None, rid)
            await self._json(writer, 400, self._invalid(protocol, "request body is not valid JSON", rid), id_header)
            return True
        model = payload.get("model") if isinstance(payload, dict) else None
        if isinstance(model, str) and model.startswith(replay.PREFIX):
            return await self._replay(req, protocol, payload, model, writer, rid)
        try:
            if not isinstance(model, str) or not model:
                raise ScenarioError("model: field required")
            sc = parse_scenario(model)
        except ScenarioError as exc:
            self._record(req, protocol, payload, None, rid)
            await self._json(writer, 400, self._invalid(protocol, f"fake server: {exc}", rid), id_header)
            return True
        rec = self._record(req, protocol, payload, sc, rid)
        sc.received_key = _key_of(req)
        problem = self._validate(protocol, req, payload)
        if problem:
            await self._json(writer, 400, self._invalid(protocol, problem, rid), id_header)
            return True
        if not self._authorized(req):
            body = (
                _openai_error(sc, 401, _key_of(req))
                if protocol != "anthropic"
                else _anthropic_error(sc, 401, _key_of(req), rid)
            )
            await self._json(writer, 401, body, id_header)
            return True

        # fail_first=K: the failure applies only to the first K requests of this model string
        failing = True
        if sc.fail_first is not None:
            with self._lock:
                n = self._counters[sc.model] = self._counters.get(sc.model, 0) + 1
            failing = n <= sc.fail_first
        status = (400 if sc.context else sc.status) if failing else None
        fault = sc.fault if failing else None

        if fault == "hang_headers":
            await _wait_eof(reader)
            return False
        if status is not None and status != 200:
            if sc.first_delay_ms:
                await asyncio.sleep(sc.first_delay_ms / 1000)
            key = _key_of(req)
            body = _openai_error(sc, status, key) if protocol != "anthropic" else _anthropic_error(sc, status, key, rid)
            extra = dict(id_header)
            if sc.retry_after is not None:
                extra["retry-after"] = sc.retry_after
            if protocol == "anthropic" and status == 529:
                extra["x-should-retry"] = "true"
            await self._json(writer, status, body, extra)
            return True
        if isinstance(payload, dict) and payload.get("stream") is not True:
            await self._complete(protocol, sc, payload, rec, writer, id_header)
            return True
        return await self._stream(protocol, sc, payload, rec, reader, writer, id_header, fault)

    async def _models(
        self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rid: str,
        opts: dict[str, str],
    ) -> bool:
        """GET /v1/models in the dialect the client speaks: Anthropic's (``anthropic-version``
        header: ``limit``/``after_id`` pages, ``has_more``) or the OpenAI list.

        Options from a ``/x/<opts>/`` URL prefix: ``models=a,b`` (the ids),
        ``models_status=404`` (no such endpoint, as Ollama-era and many proxies answer),
        ``models_gate=NAME`` (wait for ``release(NAME)`` before answering).
        """
        self._record(req, "models", None, None, rid)
        if opts.get("models_gate"):
            await self._pause(opts["models_gate"], reader)
        status = int(opts.get("models_status") or 200)
        if status == 404:
            await self._simple(writer, 404, "text/plain; charset=utf-8", b"404 page not found\n")
            return True
        if req.method != "GET":
            await self._json(writer, 405, {"error": {"message": "Method not allowed", "type": "invalid_request_error"}})
            return True
        if not self._authorized(req) or status != 200:
            code = status if status != 200 else 401
            await self._json(
                writer, code, _openai_error(Scenario(model="", name=""), code, _key_of(req)), {"x-request-id": rid}
            )
            return True
        ids = [m for m in opts["models"].split(",") if m] if "models" in opts else list(MODELS)
        now = int(time.time())
        if req.headers.get("anthropic-version"):
            query = {k: v[-1] for k, v in parse_qs(req.target.partition("?")[2]).items()}
            limit = max(1, min(1000, int(query.get("limit") or 20)))
            start = ids.index(query["after_id"]) + 1 if query.get("after_id") in ids else 0
            page = ids[start : start + limit]
            data: list[dict[str, Any]] = [
                {"type": "model", "id": m, "display_name": m.replace("-", " ").title(),
                 "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}
                for m in page
            ]
            body: dict[str, Any] = {
                "data": data, "has_more": start + limit < len(ids),
                "first_id": page[0] if page else None, "last_id": page[-1] if page else None,
            }
            await self._json(writer, 200, body, {"request-id": rid})
            return True
        data = [{"id": m, "object": "model", "created": now, "owned_by": "muxtui-fakeserver"} for m in ids]
        await self._json(writer, 200, {"object": "list", "data": data}, {"x-request-id": rid})
        return True

    async def _replay(
        self, req: _Request, protocol: str, payload: dict, model: str, writer: asyncio.StreamWriter, rid: str
    ) -> bool:
        """Model ``replay:<name>``: send a recorded response byte for byte (see muxtui.testing.replay)."""
        rec = self._record(req, protocol, payload, None, rid)
        rec.data["model"] = model
        with self._lock:  # the n-th request for this exact model string follows the fixture's "next" chain
            n = self._counters[model] = self._counters.get(model, 0) + 1
        try:
            fx = replay.load_fixture(model[len(replay.PREFIX):].partition("#")[0])
            for _ in range(n - 1):
                if not fx.next:
                    break
                fx = replay.load_fixture(fx.next)
        except replay.ReplayError as exc:
            await self._json(writer, 400, self._invalid(protocol, f"fake server: {exc}", rid))
            return True
        body = fx.wire_body()
        headers = {**fx.response_headers(), "content-length": str(len(body)), "connection": "keep-alive"}
        headers.setdefault("x-request-id" if protocol == "openai" else "request-id", rid)
        self._write_head(writer, fx.status, headers)
        # Event by event (when not compressed), so the client reads the stream as it would arrive;
        # the bytes on the wire are exactly the fixture's.
        pos = 0
        while pos < len(body):
            cut = -1 if fx.gzip else body.find(b"\n\n", pos)
            end = len(body) if cut < 0 else cut + 2
            writer.write(body[pos:end])
            await self._drain(writer)
            pos = end
        return True

    def _authorized(self, req: _Request) -> bool:
        if self.require_key is None:
            return True
        return _key_of(req) == self.require_key

    @staticmethod
    def _invalid(protocol: str, message: str, rid: str) -> dict:
        if protocol == "anthropic":
            return {"type": "error", "error": {"type": "invalid_request_error", "message": message}, "request_id": rid}
        return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}

    @staticmethod
    def _validate(protocol: str, req: _Request, payload: Any) -> str | None:
        """The checks the real APIs make that a buggy client would trip."""
        if not isinstance(payload, dict):
            return "request body must be a JSON object"
        if protocol == "responses":
            return _validate_responses(payload)
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or "role" not in m or "content" not in m:
                return f"messages.{i}: role and content are required"
        if protocol == "openai":
            for i, m in enumerate(messages):
                if m["role"] not in ("system", "developer", "user", "assistant", "tool"):
                    return f"messages.{i}.role: invalid role {m['role']!r}"
            return None
        if not req.headers.get("anthropic-version"):
            return "anthropic-version: header is required"
        if not isinstance(payload.get("max_tokens"), int) or isinstance(payload.get("max_tokens"), bool):
            return "max_tokens: Field required"
        for i, m in enumerate(messages):
            if m["role"] not in ("user", "assistant"):
                return (
                    f'messages.{i}.role: Unexpected role "{m["role"]}". The Messages API accepts a '
                    'top-level `system` parameter, not "system" as an input message role.'
                )
            if isinstance(m["content"], str) and not m["content"]:
                return f"messages.{i}: text content blocks must be non-empty"
        return None

    @staticmethod
    def _usage(sc: Scenario, payload: dict, n_content: int, n_reasoning: int) -> dict[str, int] | None:
        if not sc.usage:
            return None
        chars = 0
        for m in [*payload.get("messages", []), *(payload.get("input") or [])]:
            content = m.get("content") if isinstance(m, dict) else None
            chars += len(content) if isinstance(content, str) else len(json.dumps(content))
        for system in (payload.get("system"), payload.get("instructions")):
            if isinstance(system, str):
                chars += len(system)
        return {"input_tokens": max(1, chars // 4), "output_tokens": n_content + n_reasoning}

    async def _complete(
        self, protocol: str, sc: Scenario, payload: dict, rec: _Record, writer: asyncio.StreamWriter, id_header: dict
    ) -> None:
        """A non-streaming request: the whole reply as one JSON document."""
        text_chunks, reasoning_chunks = sc.content_chunks(), sc.reasoning_chunks()
        text, reasoning = "".join(text_chunks), "".join(reasoning_chunks)
        usage = self._usage(sc, payload, len(text_chunks), len(reasoning_chunks)) or {"input_tokens": 0, "output_tokens": 0}
        rid = rec.data["request_id"]
        if protocol == "responses":
            body = _responses_body(sc, rid, text, reasoning, usage)
        elif protocol == "openai":
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
            if reasoning:
                message["reasoning_content"] = reasoning
            body = {
                "id": "chatcmpl-" + rid[4:28],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": sc.name,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": sc.finish}],
                "usage": {
                    "prompt_tokens": usage["input_tokens"],
                    "completion_tokens": usage["output_tokens"],
                    "total_tokens": usage["input_tokens"] + usage["output_tokens"],
                },
            }
        else:
            content: list[dict] = []
            if reasoning:
                content.append({"type": "thinking", "thinking": reasoning, "signature": "ZmFrZQ=="})
            content.append({"type": "text", "text": text})
            body = {
                "id": "msg_" + rid[4:28],
                "type": "message",
                "role": "assistant",
                "model": sc.name,
                "content": content,
                "stop_reason": _ANTHROPIC_FINISH.get(sc.finish, sc.finish),
                "stop_sequence": None,
                "usage": {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]},
            }
        with self._lock:
            rec.text.append(text)
            rec.reasoning.append(reasoning)
            rec.data["usage"] = usage
        await self._json(writer, 200, body, id_header)

    async def _stream(
        self,
        protocol: str,
        sc: Scenario,
        payload: dict,
        rec: _Record,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        id_header: dict,
        fault: str | None,
    ) -> bool:
        rid = rec.data["request_id"]
        wire: Any = _WIRES[protocol](sc, payload, rid)
        reasoning = sc.reasoning_chunks()
        content = sc.content_chunks()
        usage = self._usage(sc, payload, len(content), len(reasoning))
        with self._lock:
            rec.data["usage"] = usage
        out = _Out(writer, self, rec)
        self._write_head(
            writer,
            200,
            {
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "transfer-encoding": "chunked",
                "connection": "keep-alive",
                **id_header,
            },
        )
        for ev in wire.head() if protocol == "openai" else wire.start(usage):
            out.add(ev)
        await out.flush()
        if sc.first_delay_ms:
            await asyncio.sleep(sc.first_delay_ms / 1000)

        items: list[tuple[bool, str]] = [(True, t) for t in reasoning] + [(False, t) for t in content]
        total = len(items)
        fault_at = min(sc.after, total) if fault and fault != "hang_headers" else -1
        pause_at = min(sc.pause_after, total) if sc.pause_after is not None else -1
        delay = sc.delay_ms / 1000
        batch = self.batch_events
        for i in range(total + 1):
            if i == pause_at:
                await out.flush()
                await self._pause(sc.gate or "", reader)
            if i == fault_at:
                ended = await self._fault(fault or "", wire, out, reader, writer)
                if ended is not None:
                    return ended
            if i == total:
                break
            is_reasoning, text = items[i]
            if is_reasoning:
                out.add(wire.reasoning(text), reasoning=text)
                if i == len(reasoning) - 1:
                    for ev in wire.reasoning_end():
                        out.add(ev)
            else:
                out.add(wire.content(text), text=text)
            if delay:
                await out.flush()
                await asyncio.sleep(delay)
            elif out.count >= batch or out.size >= BATCH_BYTES:
                await out.flush()
        for ev in wire.tail(usage):
            out.add(ev)
        await out.flush()
        writer.write(b"0\r\n\r\n")
        await self._drain(writer)
        return True

    async def _pause(self, name: str, reader: asyncio.StreamReader) -> None:
        gate = self._gate(name)
        gate.reached.set()
        if gate.released_flag:
            return
        released = asyncio.ensure_future(gate.released.wait())
        gone = asyncio.ensure_future(_wait_eof(reader))
        try:
            done, _ = await asyncio.wait({released, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (released, gone):
                if not t.done():
                    t.cancel()
            await asyncio.gather(released, gone, return_exceptions=True)
        if released not in done:
            raise _ClientGone()

    async def _fault(
        self, fault: str, wire: Any, out: _Out, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool | None:
        """Apply the fault; a bool ends the response (keep-alive or not), None goes on."""
        if fault == "malformed":
            out.add(wire.malformed())
            return None
        if fault == "garbage":
            out.add(b"data: \xff\xfe not utf-8 \xc3\x28\n\n")
            return None
        if fault == "error_event":
            out.add(wire.error_event())
            await out.flush()
            writer.write(b"0\r\n\r\n")
            await self._drain(writer)
            return True
        await out.flush()
        if fault == "close":
            writer.write(b"0\r\n\r\n")
            await self._drain(writer)
            return True
        if fault == "drop":
            writer.transport.abort()
            return False
        if fault == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if fault == "hang":
            await _wait_eof(reader)
            return False
        raise AssertionError(f"unhandled fault {fault!r}")


class _Out:
    """Buffers events and writes them as one HTTP chunk; text counts as sent once flushed."""

    __slots__ = ("writer", "server", "rec", "parts", "count", "size", "text", "reasoning")

    def __init__(self, writer: asyncio.StreamWriter, server: FakeServer, rec: _Record) -> None:
        self.writer = writer
        self.server = server
        self.rec = rec
        self.parts: list[bytes] = []
        self.count = 0
        self.size = 0
        self.text: list[str] = []
        self.reasoning: list[str] = []

    def add(self, event: bytes, *, text: str | None = None, reasoning: str | None = None) -> None:
        self.parts.append(event)
        self.count += 1
        self.size += len(event)
        if text is not None:
            self.text.append(text)
        if reasoning is not None:
            self.reasoning.append(reasoning)

    async def flush(self) -> None:
        """Write the buffered events as one HTTP chunk and wait until the kernel has them.

        The text is recorded just *before* the write, so whatever a client has received is
        always in sent_text; after the flush the two are equal.
        """
        if self.parts:
            if self.writer.transport.is_closing():
                raise _ClientGone()
            data = b"".join(self.parts)
            self.parts.clear()
            self.count = self.size = 0
            if self.text or self.reasoning:
                with self.server._lock:
                    self.rec.text.extend(self.text)
                    self.rec.reasoning.extend(self.reasoning)
                self.text.clear()
                self.reasoning.clear()
            self.writer.write(b"%x\r\n%b\r\n" % (len(data), data))
        await FakeServer._drain(self.writer)


async def _wait_eof(reader: asyncio.StreamReader) -> None:
    """Until the client closes its side (or the task is cancelled by stop())."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


def _key_of(req: _Request) -> str | None:
    auth = req.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return req.headers.get("x-api-key")


# --------------------------------------------------------------------------- routes

_PROTOCOLS = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic", "/v1/responses": "responses"}
_WIRES: dict[str, Any] = {"openai": _OpenAIWire, "anthropic": _AnthropicWire, "responses": _ResponsesWire}


def _route_options(req: _Request) -> dict[str, str]:
    """``/x/<k=v&k=v>/rest``: options for requests that carry no model name to put a scenario
    in (GET /v1/models); the prefix is stripped, so a base_url of ``{base}/x/<opts>/v1`` also
    serves chat requests as usual."""
    if not req.path.startswith("/x/"):
        return {}
    _, _, opts, rest = (req.path + "/").split("/", 3)
    req.path = "/" + rest.rstrip("/") if rest.strip("/") else "/"
    return {k: v[-1] for k, v in parse_qs(opts, keep_blank_values=True).items()}


def _validate_responses(payload: dict) -> str | None:
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
    return None


def _responses_body(sc: Scenario, rid: str, text: str, reasoning: str, usage: dict[str, int]) -> dict:
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


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m muxtui.testing.fakeserver",
        description="Fake OpenAI/Anthropic streaming server; the scenario is in the model name.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--require-key", default=None, help="answer 401 unless this API key is sent")
    args = parser.parse_args(argv)
    server = FakeServer(args.host, args.port, require_key=args.require_key)
    server.start()
    done = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(server.base_url, flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
