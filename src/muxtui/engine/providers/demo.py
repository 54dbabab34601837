"""An offline, deterministic provider: useful replies with no network and no key.

The reply depends only on the model name and the last user message. It greets, quotes
the prompt back, and gives a short tour of muxtui. Commands in the message:

* ``/fail TYPE``: stream a few words, then raise ``StreamError(TYPE)`` (any ErrorType
  value, e.g. ``/fail rate_limit``) so error badges can be seen offline;
* ``/long N``: an N-paragraph reply (N up to 2000), handy to try scrolling.

A model name containing "think" (``demo:thinking``) streams a short reasoning block first.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers.base import (
    Finish,
    ProviderClass,
    ProviderEvent,
    ReasoningDelta,
    StreamRequest,
    TextDelta,
    UsageUpdate,
)

if TYPE_CHECKING:
    from muxtui.config import Config, ProviderConfig

__all__ = ["DemoProvider", "demo_reply"]

_TOKEN_RE = re.compile(r"[ \t]*[^\s]+\n*|[ \t]*\n+|[ \t]+")
_MAX_LONG = 2000
QUOTE_CHARS = 200

_KEYS = (
    ("ctrl+n", "new workspace"),
    ("enter", "send the message"),
    ("alt+enter", "insert a newline"),
    ("esc", "interrupt the reply"),
    ("alt+up / alt+down", "switch workspace"),
    ("ctrl+r", "retry the last reply"),
    ("f2", "rename the workspace"),
    ("ctrl+o", "model picker"),
    ("ctrl+e", "error log"),
    ("ctrl+p", "command palette"),
)

_GREETINGS = (
    "Hello! This is the **demo model**: it runs entirely offline, so nothing left your machine.",
    "Hi there! You are talking to the **demo model**, a built-in offline stand-in for a real LLM.",
    "Welcome! This reply comes from the **demo model**, which needs no network and no API key.",
)

_STATUS = {
    ErrorType.AUTHENTICATION: 401,
    ErrorType.QUOTA: 429,
    ErrorType.RATE_LIMIT: 429,
    ErrorType.MODEL_NOT_FOUND: 404,
    ErrorType.CONTEXT_EXCEEDED: 400,
    ErrorType.SERVER_ERROR: 500,
    ErrorType.API: 400,
}

_LONG_WORDS = (
    "workspace stream reply model provider terminal keyboard message history layout "
    "render token latency scroll buffer retry config theme palette focus session draft "
    "cursor markdown table heading list quote code fence window panel status badge usage"
).split()


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def _fence_for(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _last_user(request: StreamRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            if message.attachments:  # offline: the demo names what it was given, and reads no file
                names = ", ".join(f"{p.name} ({p.kind})" for p in message.attachments)
                return f"{message.content}\n\n[attached: {names}]".strip()
            return message.content
    return ""


def _seed(prompt: str) -> int:
    return int.from_bytes(hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).digest()[:8], "big")


def _quote(prompt: str) -> str:
    shown = prompt[:QUOTE_CHARS]
    if len(prompt) > QUOTE_CHARS:
        shown += "…"
    fence = _fence_for(shown)
    return f"{fence}text\n{shown}\n{fence}\n"


def _tour(prompt: str) -> str:
    words = len(prompt.split())
    table = "| Key | Action |\n|---|---|\n" + "".join(f"| `{k}` | {a} |\n" for k, a in _KEYS)
    return (
        f"Your message has {words} word{'s' if words != 1 else ''} and {len(prompt)} characters.\n\n"
        "## A quick tour of muxtui\n\n"
        "Each **workspace** is a separate conversation with its own model, and replies keep "
        "streaming while you switch between them.\n\n"
        "- Type below and press `enter` to send; `alt+enter` adds a newline.\n"
        "- Press `esc` to interrupt a reply; what arrived so far is kept.\n"
        "- A failed reply shows an error badge with a hint; `ctrl+r` retries it.\n"
        "- `ctrl+o` picks another model, `ctrl+p` opens the command palette.\n\n"
        "### Keys\n\n" + table + "\n"
        "To talk to a real model, add a provider to `config.toml` "
        "(`muxtui doctor` checks it):\n\n"
        "```toml\n"
        "[providers.openai]\n"
        'type = "openai"\n'
        'base_url = "https://api.openai.com/v1"\n'
        'api_key_env = "OPENAI_API_KEY"\n'
        "```\n\n"
        "Try `/fail rate_limit` to see how an error looks, or `/long 20` for a long reply.\n"
    )


def _long(n: int, prompt: str) -> str:
    rng = random.Random(_seed(prompt))
    parts = [f"Here are {n} paragraph{'s' if n != 1 else ''} of filler text for scrolling.\n\n"]
    for i in range(1, n + 1):
        sentences = []
        for _ in range(rng.randint(2, 4)):
            words = [rng.choice(_LONG_WORDS) for _ in range(rng.randint(6, 14))]
            words[0] = words[0].capitalize()
            sentences.append(" ".join(words) + ".")
        parts.append(f"**{i}.** " + " ".join(sentences) + "\n\n")
    return "".join(parts)


def demo_reply(model: str, prompt: str) -> tuple[str, str, ErrorType | None]:
    """(reasoning, reply, error type to raise after a few words) for a model and prompt."""
    stripped = prompt.strip()
    reasoning = ""
    if "think" in model.lower():
        gist = " ".join(stripped.split()[:12]) or "nothing yet"
        reasoning = (
            f"The user wrote: {gist}. I am the offline demo model, so I cannot really answer; "
            "the most useful thing is to greet them, show their message back, and explain the "
            "keys and how to configure a real provider.\n"
        )
    match = re.match(r"/fail(?:\s+(\S+))?", stripped)
    if match:
        name = (match.group(1) or "").lower()
        try:
            error_type = ErrorType(name)
        except ValueError:
            names = ", ".join(f"`{t.value}`" for t in ErrorType)
            return reasoning, f"`/fail` needs an error type, one of: {names}.\n", None
        if error_type is ErrorType.EMPTY_OUTPUT:
            return reasoning, "", error_type
        return reasoning, f"Simulating a `{error_type.value}` error after a few words of reply", error_type
    match = re.match(r"/long(?:\s+(\d+))?", stripped)
    if match:
        n = max(1, min(_MAX_LONG, int(match.group(1) or 10)))
        return reasoning, _long(n, prompt), None
    greeting = _GREETINGS[_seed(prompt) % len(_GREETINGS)]
    if stripped:
        body = f"{greeting}\n\nYou wrote:\n\n{_quote(prompt)}\n"
    else:
        body = f"{greeting}\n\n"
    return reasoning, body + _tour(prompt), None


class DemoProvider(ProviderClass):
    """Streams ``demo_reply`` at about ``chars_per_second`` (0: as fast as possible)."""

    type_name = "demo"
    needs_base_url = False
    offline = True

    @classmethod
    def from_config(cls, pc: ProviderConfig, cfg: Config) -> DemoProvider:
        return cls(pc.name, chars_per_second=pc.chars_per_second)

    def __init__(self, name: str = "demo", *, chars_per_second: float = 300.0) -> None:
        self.name = name
        self.chars_per_second = max(0.0, float(chars_per_second))

    def __repr__(self) -> str:
        return f"DemoProvider(name={self.name!r}, chars_per_second={self.chars_per_second})"

    async def aclose(self) -> None:
        return None

    async def stream(self, request: StreamRequest) -> AsyncIterator[ProviderEvent]:
        prompt = _last_user(request)
        reasoning, reply, error_type = demo_reply(request.model, prompt)
        stats = request.stats
        stats.request_id = "demo-" + hashlib.sha256(
            (request.model + "\0" + prompt).encode("utf-8", "surrogatepass")
        ).hexdigest()[:16]
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent = 0
        cps = self.chars_per_second

        async def pace(chunk: str, count: int) -> None:
            nonlocal sent
            sent += len(chunk)
            stats.events += 1
            stats.bytes += len(chunk.encode("utf-8", "surrogatepass"))
            if cps > 0:
                delay = start + sent / cps - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif count % 32 == 0:
                    await asyncio.sleep(0)
            elif count % 64 == 0:
                await asyncio.sleep(0)  # stay cancellable and fair at full speed

        count = 0
        if request.prefill and reply.startswith(request.prefill):
            # Continue: the same deterministic reply, from where the text so far stops.
            reply, reasoning = reply[len(request.prefill):], ""
        for chunk in _tokens(reasoning):
            count += 1
            await pace(chunk, count)
            yield ReasoningDelta(chunk)
        tokens = _tokens(reply)
        if error_type is not None:
            tokens = tokens[:8]
        for chunk in tokens:
            count += 1
            await pace(chunk, count)
            yield TextDelta(chunk)
        if error_type is not None:
            await asyncio.sleep(0)
            raise StreamError(
                error_type,
                f"demo: simulated {error_type.value} error (you typed /fail {error_type.value})",
                status=_STATUS.get(error_type),
                retry_after=5.0 if error_type is ErrorType.RATE_LIMIT else None,
                provider=self.name,
            )
        input_chars = sum(len(m.content) for m in request.messages)
        output_chars = len(reply) + len(reasoning)
        yield UsageUpdate(input_tokens=max(1, input_chars // 4), output_tokens=max(1, output_chars // 4))
        yield Finish("stop")
