"""``FakeServer``: the life cycle (its own event loop in a daemon thread), the controls tests
use (requests, gates, sent text), and serving each request: routing, validation, error
replies, fail_first, the model list and recorded replays. Streamed replies are written by
stream.py; each protocol's bodies and events are in openai.py, anthropic.py and responses.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from muxtui.testing import replay
from muxtui.testing.fakeserver import anthropic, openai, responses
from muxtui.testing.fakeserver.anthropic import anthropic_error
from muxtui.testing.fakeserver.content import content_problem
from muxtui.testing.fakeserver.core import Record, ServerCore
from muxtui.testing.fakeserver.openai import openai_error
from muxtui.testing.fakeserver.scenario import Scenario, ScenarioError, parse_scenario, usage_for
from muxtui.testing.fakeserver.stream import stream_reply
from muxtui.testing.fakeserver.wire import (
    BadRequest,
    ClientGone,
    Request,
    drain,
    key_of,
    read_request,
    route_options,
    wait_eof,
    write_head,
)

__all__ = ["MODELS", "FakeServer", "main"]

MODELS = ("fake-model", "fake-model-large", "fake-thinker")

PROTOCOLS = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic", "/v1/responses": "responses"}
COMPLETIONS = {"openai": openai.completion, "anthropic": anthropic.completion, "responses": responses.completion}


class FakeServer(ServerCore):
    """See the package docstring. Thread-safe; ``start()`` returns self; a context manager."""

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
                    req = await read_request(reader)
                except BadRequest as exc:
                    await self._simple(writer, exc.status, "text/plain", str(exc).encode(), keep_alive=False)
                    break
                if req is None:
                    break
                if not await self._dispatch(req, reader, writer) or not req.keep_alive:
                    break
        except (ClientGone, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
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
        write_head(writer, status, headers)
        writer.write(body)
        await drain(writer)

    async def _json(
        self, writer: asyncio.StreamWriter, status: int, payload: Any, extra: dict[str, str] | None = None
    ) -> None:
        await self._simple(writer, status, "application/json", json.dumps(payload).encode(), extra=extra)

    async def _dispatch(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection must not be reused."""
        rid = "req_" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
        opts = route_options(req)
        if req.path == "/v1/models":
            return await self._models(req, reader, writer, rid, opts)
        protocol = PROTOCOLS.get(req.path)
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
        sc.received_key = key_of(req)
        problem = self._validate(protocol, req, payload)
        if problem:
            await self._json(writer, 400, self._invalid(protocol, problem, rid), id_header)
            return True
        if not self._authorized(req):
            body = (
                openai_error(sc, 401, key_of(req))
                if protocol != "anthropic"
                else anthropic_error(sc, 401, key_of(req), rid)
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
            await wait_eof(reader)
            return False
        if status is not None and status != 200:
            if sc.first_delay_ms:
                await asyncio.sleep(sc.first_delay_ms / 1000)
            key = key_of(req)
            body = openai_error(sc, status, key) if protocol != "anthropic" else anthropic_error(sc, status, key, rid)
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
        return await stream_reply(self, protocol, sc, payload, rec, reader, writer, id_header, fault)

    async def _models(
        self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rid: str,
        opts: dict[str, str],
    ) -> bool:
        """GET /v1/models in the dialect the client speaks: Anthropic's (``anthropic-version``
        header: ``limit``/``after_id`` pages, ``has_more``) or the OpenAI list.

        Options from a ``/x/<opts>/`` URL prefix: ``models=a,b`` (the ids),
        ``models_status=404`` (no such endpoint, as Ollama-era and many proxies answer),
        ``models_gate=NAME`` (wait for ``release(NAME)`` before answering),
        ``models_context=N`` (each entry states a context window of N tokens).
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
                writer, code, openai_error(Scenario(model="", name=""), code, key_of(req)), {"x-request-id": rid}
            )
            return True
        ids = [m for m in opts["models"].split(",") if m] if "models" in opts else list(MODELS)
        now = int(time.time())
        if req.headers.get("anthropic-version"):
            query = {k: v[-1] for k, v in parse_qs(req.target.partition("?")[2]).items()}
            page = anthropic.model_page(ids, query, now)
            if opts.get("models_context"):
                for entry in page["data"]:
                    entry["max_input_tokens"] = int(opts["models_context"])
            await self._json(writer, 200, page, {"request-id": rid})
            return True
        listing = openai.model_list(ids, now)
        if opts.get("models_context"):
            for entry in listing["data"]:
                entry["context_length"] = int(opts["models_context"])
        await self._json(writer, 200, listing, {"x-request-id": rid})
        return True

    async def _replay(
        self, req: Request, protocol: str, payload: dict, model: str, writer: asyncio.StreamWriter, rid: str
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
        write_head(writer, fx.status, headers)
        # Event by event (when not compressed), so the client reads the stream as it would arrive;
        # the bytes on the wire are exactly the fixture's.
        pos = 0
        while pos < len(body):
            cut = -1 if fx.gzip else body.find(b"\n\n", pos)
            end = len(body) if cut < 0 else cut + 2
            writer.write(body[pos:end])
            await drain(writer)
            pos = end
        return True

    def _authorized(self, req: Request) -> bool:
        if self.require_key is None:
            return True
        return key_of(req) == self.require_key

    @staticmethod
    def _invalid(protocol: str, message: str, rid: str) -> dict:
        return anthropic.invalid(message, rid) if protocol == "anthropic" else openai.invalid(message)

    @staticmethod
    def _validate(protocol: str, req: Request, payload: Any) -> str | None:
        """The checks the real APIs make that a buggy client would trip."""
        if not isinstance(payload, dict):
            return "request body must be a JSON object"
        if protocol == "responses":
            return responses.validate(payload)
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
                problem = content_problem("openai", m["content"], f"messages.{i}", m["role"])
                if problem:
                    return problem
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
            problem = content_problem("anthropic", m["content"], f"messages.{i}", m["role"])
            if problem:
                return problem
        return None

    async def _complete(
        self, protocol: str, sc: Scenario, payload: dict, rec: Record, writer: asyncio.StreamWriter, id_header: dict
    ) -> None:
        """A non-streaming request: the whole reply as one JSON document."""
        text_chunks, reasoning_chunks = sc.content_chunks(), sc.reasoning_chunks()
        text, reasoning = "".join(text_chunks), "".join(reasoning_chunks)
        usage = usage_for(sc, payload, len(text_chunks), len(reasoning_chunks)) or {"input_tokens": 0, "output_tokens": 0}
        body = COMPLETIONS[protocol](sc, rec.data["request_id"], text, reasoning, usage)
        with self._lock:
            rec.text.append(text)
            rec.reasoning.append(reasoning)
            rec.data["usage"] = usage
        await self._json(writer, 200, body, id_header)


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
