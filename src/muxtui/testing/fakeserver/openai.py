"""The OpenAI Chat Completions dialect of the fake server (``POST /v1/chat/completions``):
the streamed chunks (``OpenAIWire``), the real API's error bodies, the non-streaming reply and
the model list. The Responses API (responses.py) shares the error bodies and the model list."""

from __future__ import annotations

import json
import time
from typing import Any

from muxtui.testing.fakeserver.scenario import Scenario

__all__ = ["OpenAIWire", "completion", "invalid", "model_list", "openai_error"]


class OpenAIWire:
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


def _mask(key: str | None) -> str:
    if not key:
        return "(none)"
    return key[:3] + "*" * 8 + key[-4:] if len(key) > 8 else "****"


def openai_error(sc: Scenario, status: int, key: str | None) -> dict:
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


def invalid(message: str) -> dict:
    """The body of a 400 for a request the fake server cannot serve."""
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def completion(sc: Scenario, rid: str, text: str, reasoning: str, usage: dict[str, int]) -> dict:
    """A non-streaming chat.completion."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    return {
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


def model_list(ids: list[str], now: int) -> dict:
    """``GET /v1/models``: every id in one list."""
    data = [{"id": m, "object": "model", "created": now, "owned_by": "muxtui-fakeserver"} for m in ids]
    return {"object": "list", "data": data}
