"""Providers over real HTTP against the fake server; the SSE parser; the demo provider."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
import traceback
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import quote

import httpx
import pytest

from muxtui.engine.errors import RETRYABLE, ErrorType, StreamError
from muxtui.engine.providers import (
    AnthropicProvider,
    ChatMessage,
    DemoProvider,
    Finish,
    OpenAIProvider,
    ReasoningDelta,
    StreamRequest,
    TextDelta,
    UsageUpdate,
    registry,
)
from muxtui.engine.providers.classify import classify_status, extract_error, parse_retry_after, redact
from muxtui.engine.providers.sse import SSEDecoder, SSEError, SSEEvent, aiter_sse
from muxtui.testing import markdown_mix
from muxtui.testing.fakeserver import FakeServer

KEY = "sk-test-PROVIDER-Zq9xW2vB7nK4mP"
_ids = itertools.count()


def uniq(query: str = "") -> str:
    """A model string no other test uses, so its request can be found on the shared server."""
    name = f"t{next(_ids)}-{time.monotonic_ns()}"
    return f"{name}?{query}" if query else name


@dataclass
class Result:
    events: list = field(default_factory=list)
    error: StreamError | None = None
    request: StreamRequest | None = None

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    @property
    def reasoning(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, ReasoningDelta))

    @property
    def usage(self) -> tuple[int | None, int | None]:
        inp = out = None
        for e in self.events:
            if isinstance(e, UsageUpdate):
                inp = e.input_tokens if e.input_tokens is not None else inp
                out = e.output_tokens if e.output_tokens is not None else out
        return inp, out


MESSAGES = [ChatMessage("system", "be brief"), ChatMessage("user", "hello")]


async def collect(provider, model: str, messages=None, max_tokens=None) -> Result:
    req = StreamRequest(model, list(messages or MESSAGES), max_tokens)
    res = Result(request=req)
    try:
        async with aclosing(provider.stream(req)) as events:
            async for event in events:
                res.events.append(event)
    except StreamError as exc:
        res.error = exc
    return res


def make(kind: str, base: str, key: str | None = KEY, **kw):
    cls = OpenAIProvider if kind == "openai" else AnthropicProvider
    return cls(f"fake-{kind}", base, key, **kw)


def base_of(kind: str, srv: FakeServer) -> str:
    return srv.openai_base_url if kind == "openai" else srv.anthropic_base_url


@pytest.fixture(params=["openai", "anthropic"])
def kind(request) -> str:
    return request.param


@pytest.fixture
async def provider(kind, fake_server):
    p = make(kind, base_of(kind, fake_server), read_timeout=5)
    yield p
    await p.aclose()


def assert_no_key(err: BaseException, key: str = KEY) -> None:
    text = "".join(traceback.format_exception(err))
    assert key not in text
    assert key not in repr(err)
    if isinstance(err, StreamError):
        assert key not in json.dumps(err.to_dict())


# --------------------------------------------------------------------------- happy path


async def test_happy_path(kind, provider, fake_server):
    model = uniq("chunks=40&seed=3&reasoning=4")
    res = await collect(provider, model)
    assert res.error is None
    i = fake_server.request_index(model)
    rec = fake_server.requests[i]
    assert res.text == fake_server.sent_text(i) == "".join(markdown_mix.generate(40, 3))
    assert res.reasoning == fake_server.sent_reasoning(i) and res.reasoning
    assert isinstance(res.events[-1], Finish)
    assert res.events[-1].reason == ("stop" if kind == "openai" else "end_turn")
    assert res.usage == (rec["usage"]["input_tokens"], rec["usage"]["output_tokens"]) == (res.usage[0], 44)
    stats = res.request.stats
    assert stats.upstream_status == 200
    assert stats.events >= 44 and stats.bytes > len(res.text)
    assert stats.request_id == rec["request_id"]
    # all reasoning precedes the text
    kinds = [type(e) for e in res.events if isinstance(e, (TextDelta, ReasoningDelta))]
    assert kinds == sorted(kinds, key=lambda k: k is TextDelta)
    body = rec["json"]
    assert body["stream"] is True and body["model"] == model
    if kind == "openai":
        assert rec["headers"]["authorization"] == f"Bearer {KEY}"
        assert body["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
        assert body["stream_options"] == {"include_usage": True}
        assert "max_tokens" not in body
    else:
        assert rec["headers"]["x-api-key"] == KEY
        assert rec["headers"]["anthropic-version"] == "2023-06-01"
        assert body["system"] == "be brief"
        assert body["messages"] == [{"role": "user", "content": "hello"}]
        assert body["max_tokens"] == 4096
    assert rec["headers"]["user-agent"].startswith("muxtui/")


async def test_finish_reason_length(kind, provider, fake_server):
    res = await collect(provider, uniq("chunks=3&finish=length"))
    assert res.error is None
    assert res.events[-1] == Finish("length" if kind == "openai" else "max_tokens")


async def test_max_tokens_and_headers_and_no_key(kind, fake_server):
    p = make(kind, base_of(kind, fake_server), key=None, headers={"X-Custom": "yes"})
    try:
        model = uniq("chunks=2")
        res = await collect(p, model, max_tokens=77)
        assert res.error is None
        rec = fake_server.requests[fake_server.request_index(model)]
        assert rec["json"]["max_tokens"] == 77
        assert rec["headers"]["x-custom"] == "yes"
        assert "authorization" not in rec["headers"] and "x-api-key" not in rec["headers"]
    finally:
        await p.aclose()


async def test_anthropic_base_url_with_v1_and_empty_turns(fake_server):
    p = AnthropicProvider("a", fake_server.anthropic_base_url + "/v1/", KEY)
    try:
        model = uniq("chunks=2")
        msgs = [
            ChatMessage("system", "one"),
            ChatMessage("user", "q1"),
            ChatMessage("assistant", ""),  # a reply that failed before its first token
            ChatMessage("system", "two"),
            ChatMessage("user", "q2"),
        ]
        res = await collect(p, model, msgs)
        assert res.error is None, res.error
        body = fake_server.requests[fake_server.request_index(model)]["json"]
        assert body["system"] == "one\n\ntwo"
        assert body["messages"] == [{"role": "user", "content": "q1"}, {"role": "user", "content": "q2"}]
    finally:
        await p.aclose()


async def test_openai_tolerates_missing_done_after_finish(fake_server):
    p = OpenAIProvider("o", fake_server.openai_base_url, KEY)
    try:
        res = await collect(p, uniq("chunks=5&done=0"))
        assert res.error is None and res.events[-1] == Finish("stop") and res.usage[1] == 5
    finally:
        await p.aclose()


async def test_anthropic_missing_message_stop_is_truncated(fake_server):
    p = AnthropicProvider("a", fake_server.anthropic_base_url, KEY)
    try:
        res = await collect(p, uniq("chunks=5&done=0"))
        assert res.error is not None and res.error.error_type is ErrorType.STREAM_TRUNCATED
        assert "message_stop" in res.error.message
    finally:
        await p.aclose()


async def test_empty_stream(provider):
    res = await collect(provider, uniq("empty=1"))
    assert res.error is None
    assert res.text == "" and not any(isinstance(e, TextDelta) for e in res.events)
    assert isinstance(res.events[-1], Finish)


async def test_huge_chunk(provider, fake_server):
    model = uniq("huge=10000000")
    res = await collect(provider, model)
    assert res.error is None
    assert len(res.text) == 10_000_000
    assert res.text == fake_server.sent_text(fake_server.request_index(model))


async def test_non_streaming_json_reply_is_understood(kind, fake_server):
    """A server (or proxy) that ignores stream:true and answers with one JSON document."""

    cls = OpenAIProvider if kind == "openai" else AnthropicProvider

    class NoStream(cls):  # type: ignore[misc, valid-type]
        def _prepare(self, request):
            url, headers, body = super()._prepare(request)
            return url, headers, {**body, "stream": False}

    p = NoStream("ns", base_of(kind, fake_server), KEY)
    try:
        model = uniq("chunks=6&reasoning=2")
        res = await collect(p, model)
        assert res.error is None
        assert res.text == fake_server.sent_text(fake_server.request_index(model))
        assert res.reasoning and isinstance(res.events[-1], Finish) and res.usage[1] == 8
    finally:
        await p.aclose()


# --------------------------------------------------------------------------- HTTP errors


@pytest.mark.parametrize(
    "query,error_type,status",
    [
        ("status=401", ErrorType.AUTHENTICATION, 401),
        ("status=402", ErrorType.QUOTA, 402),
        ("status=403", ErrorType.AUTHENTICATION, 403),
        ("status=404", ErrorType.MODEL_NOT_FOUND, 404),
        ("status=429", ErrorType.RATE_LIMIT, 429),
        ("status=429&quota=1", ErrorType.QUOTA, 429),
        ("status=500", ErrorType.SERVER_ERROR, 500),
        ("status=503", ErrorType.SERVER_ERROR, 503),
        ("status=529", ErrorType.SERVER_ERROR, 529),
        ("context=1", ErrorType.CONTEXT_EXCEEDED, 400),
        ("status=400", ErrorType.API, 400),
    ],
)
async def test_status_classification(kind, provider, fake_server, query, error_type, status):
    model = uniq(query + "&echo_key=1")
    res = await collect(provider, model)
    err = res.error
    assert err is not None and res.events == []
    assert err.error_type is error_type
    assert err.status == status and err.provider == f"fake-{kind}"
    assert err.retryable == (error_type in RETRYABLE)
    assert err.retry_after is None
    # the provider's own words are carried...
    sent = fake_server.requests[fake_server.request_index(model)]
    assert err.message.startswith(str(status)) and "[REDACTED]" in err.message
    # ...but never the key, although the body echoed it
    assert_no_key(err)
    assert res.request.stats.upstream_status == status
    assert res.request.stats.request_id == sent["request_id"]


async def test_retry_after_seconds_and_date(provider):
    res = await collect(provider, uniq("status=429&retry_after=7"))
    assert res.error.error_type is ErrorType.RATE_LIMIT and res.error.retry_after == 7.0
    date = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    res = await collect(provider, uniq("status=503&retry_after=" + quote(date)))
    assert res.error.error_type is ErrorType.SERVER_ERROR
    assert 100 < res.error.retry_after <= 120


# --------------------------------------------------------------------------- mid-stream faults


@pytest.mark.parametrize(
    "query,error_type,words",
    [
        ("fault=malformed&after=5", ErrorType.API, "malformed chunk from server"),
        ("fault=garbage&after=5", ErrorType.API, "not valid UTF-8"),
        ("fault=drop&after=5", ErrorType.STREAM_TRUNCATED, "mid-stream"),
        ("fault=close&after=5", ErrorType.STREAM_TRUNCATED, "closed before"),
        ("fault=error_event&after=5", ErrorType.SERVER_ERROR, "error event mid-stream"),
    ],
)
async def test_mid_stream_faults(provider, fake_server, query, error_type, words):
    model = uniq("chunks=30&" + query)
    res = await collect(provider, model)
    assert res.error is not None, res.events[-3:]
    assert res.error.error_type is error_type
    assert words in res.error.message
    assert res.error.retryable == (error_type in RETRYABLE)
    # everything the server sent before the fault reached the caller, nothing more
    sent = fake_server.sent_text(fake_server.request_index(model))
    if "malformed" in query or "garbage" in query:
        assert sent.startswith(res.text)  # the server goes on after the bad line
    else:
        assert res.text == sent
    assert res.text == "".join(markdown_mix.generate(30, 0)[:5])
    assert not any(isinstance(e, Finish) for e in res.events)
    assert_no_key(res.error)


async def test_connection_reset_mid_stream(provider):
    res = await collect(provider, uniq("chunks=30&fault=reset&after=5"))
    assert res.error is not None and res.error.error_type is ErrorType.STREAM_TRUNCATED


@pytest.mark.parametrize("query,words", [("fault=hang_headers", "no response"), ("fault=hang&after=3", "no data for 0.3 s")])
async def test_read_timeouts(kind, fake_server, query, words):
    p = make(kind, base_of(kind, fake_server), read_timeout=0.3)
    try:
        start = time.perf_counter()
        res = await collect(p, uniq("chunks=10&" + query))
        assert time.perf_counter() - start < 3
        assert res.error is not None and res.error.error_type is ErrorType.TIMEOUT
        assert words in res.error.message and res.error.retryable
    finally:
        await p.aclose()


# --------------------------------------------------------------------------- network and config


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connection_refused(kind):
    port = closed_port()
    p = make(kind, f"http://127.0.0.1:{port}/v1" if kind == "openai" else f"http://127.0.0.1:{port}")
    try:
        res = await collect(p, "m")
        assert res.error.error_type is ErrorType.NETWORK and res.error.retryable
        assert "connection refused" in res.error.message and str(port) in res.error.message
        assert res.request.stats.upstream_status is None
    finally:
        await p.aclose()


async def test_dns_failure(kind):
    p = make(kind, "http://nonexistent.invalid/v1", connect_timeout=3)
    try:
        res = await collect(p, "m")
        assert res.error.error_type is ErrorType.NETWORK
        assert "cannot resolve host nonexistent.invalid" in res.error.message
    finally:
        await p.aclose()


@pytest.mark.parametrize(
    "base", ["localhost:8080/v1", "ftp://example.test/v1", "", "http://", "http://127.0.0.1:999999/v1"]
)
async def test_bad_base_url(kind, base):
    p = make(kind, base)
    try:
        res = await collect(p, "m")
        assert res.error is not None and res.error.error_type is ErrorType.CONFIG, res.error
        assert ("bad base_url" in res.error.message) or ("base_url is empty" in res.error.message)
        assert not res.error.retryable
    finally:
        await p.aclose()


async def test_tls_to_a_plain_http_server(kind, fake_server):
    p = make(kind, base_of(kind, fake_server).replace("http://", "https://"), connect_timeout=3)
    try:
        start = time.perf_counter()
        res = await collect(p, "m")
        assert time.perf_counter() - start < 2
        assert res.error.error_type is ErrorType.NETWORK and "TLS error" in res.error.message
    finally:
        await p.aclose()


async def test_wrong_path_is_a_config_error(kind):
    with FakeServer() as srv:  # private: the request it records is not a chat request
        p = make(kind, srv.base_url + "/api")
        try:
            res = await collect(p, "m")
            assert res.error.error_type is ErrorType.CONFIG and res.error.status == 404
            assert "check base_url" in res.error.message
        finally:
            await p.aclose()


@pytest.mark.parametrize("key", ["sk-bad\nX-Injected: 1", "sk-bad-ünicode-key", "sk-nul\x00key"])
async def test_unsendable_key_is_config_and_not_leaked(kind, fake_server, key):
    p = make(kind, base_of(kind, fake_server), key=key)
    try:
        res = await collect(p, uniq("chunks=1"))
        assert res.error.error_type is ErrorType.CONFIG
        assert_no_key(res.error, key)
    finally:
        await p.aclose()


# --------------------------------------------------------------------------- life cycle


async def test_cancellation_mid_stream_is_prompt(kind, provider, fake_server):
    gate = f"cancel-{kind}-{next(_ids)}"
    model = uniq(f"chunks=50&pause_after=3&gate={gate}")
    got: list = []

    async def consume():
        async for e in provider.stream(StreamRequest(model, list(MESSAGES))):
            got.append(e)

    task = asyncio.create_task(consume())
    await fake_server.areached(gate)
    start = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - start < 1
    fake_server.release(gate)
    # the provider is still usable afterwards
    res = await collect(provider, uniq("chunks=3"))
    assert res.error is None and res.text == "".join(markdown_mix.generate(3, 0))


async def test_closing_the_generator_early(provider, fake_server):
    gate = f"early-{next(_ids)}"
    model = uniq(f"chunks=50&pause_after=10&gate={gate}")
    first = None
    async with aclosing(provider.stream(StreamRequest(model, list(MESSAGES)))) as events:
        async for e in events:
            if isinstance(e, TextDelta):
                first = e
                break
    assert first is not None
    fake_server.release(gate)


async def test_injected_client_is_not_closed(fake_server):
    async with httpx.AsyncClient(timeout=5) as client:
        p = OpenAIProvider("o", fake_server.openai_base_url, KEY, client=client)
        res = await collect(p, uniq("chunks=2"))
        assert res.error is None
        await p.aclose()
        assert not client.is_closed


async def test_own_client_is_closed_and_recreated(provider):
    assert (await collect(provider, uniq("chunks=1"))).error is None
    client = provider.client
    await provider.aclose()
    assert client.is_closed
    assert (await collect(provider, uniq("chunks=1"))).error is None  # a fresh client


def test_provider_types_and_signatures():
    from muxtui.engine.providers import OpenAIResponsesProvider

    assert {t: registry.get(t) for t in registry.types()} == {
        "openai": OpenAIProvider, "anthropic": AnthropicProvider,
        "openai-responses": OpenAIResponsesProvider, "demo": DemoProvider}
    import inspect

    for cls in (OpenAIProvider, AnthropicProvider, OpenAIResponsesProvider, DemoProvider):
        assert inspect.isasyncgenfunction(cls.stream)
    a = AnthropicProvider("a", "http://x", "k", anthropic_version="2024-01-01", default_max_tokens=10)
    assert (a.anthropic_version, a.default_max_tokens, a.name) == ("2024-01-01", 10, "a")
    assert KEY not in repr(OpenAIProvider("o", "http://x", KEY))


# --------------------------------------------------------------------------- http helpers


def test_parse_retry_after():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None and parse_retry_after("") is None
    now = 1_700_000_000.0
    date = format_datetime(datetime.fromtimestamp(now + 42, timezone.utc), usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(42, abs=1)
    past = format_datetime(datetime.fromtimestamp(now - 42, timezone.utc), usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_extract_error_dialects():
    assert extract_error(b'{"error":{"message":"m","type":"t","code":"c"}}') == ("m", "t", "c")
    assert extract_error(b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}') == (
        "Overloaded",
        "overloaded_error",
        None,
    )
    assert extract_error(b'{"error":"model \\"x\\" not found"}')[0] == 'model "x" not found'
    assert extract_error(b'{"detail":"Not Found"}')[0] == "Not Found"
    assert extract_error(b"<html><title>502 Bad Gateway</title><body>nginx</body></html>")[0] == "502 Bad Gateway"
    assert extract_error(b"plain   text\n") == ("plain text", None, None)
    assert extract_error(b"") == (None, None, None)
    assert extract_error(b"\xff\xfe garbage")[0]  # never raises


def test_classify_status_edges():
    c = classify_status
    assert c(404, b"<html><title>Not Found</title></html>", provider="p").error_type is ErrorType.CONFIG
    assert c(404, b'{"error":"model \\"llama\\" not found, try pulling it first"}', provider="p").error_type is ErrorType.MODEL_NOT_FOUND
    too_large = b'{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}'
    assert c(413, too_large, provider="p").error_type is ErrorType.CONTEXT_EXCEEDED
    credit = b'{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}'
    assert c(400, credit, provider="p").error_type is ErrorType.QUOTA
    assert c(408, b"", provider="p").error_type is ErrorType.TIMEOUT
    assert c(422, b'{"detail":"bad"}', provider="p").error_type is ErrorType.API
    assert c(502, b"<html>bad gateway</html>", provider="p").error_type is ErrorType.SERVER_ERROR
    e = c(429, b"{}", {"retry-after-ms": "1500"}, provider="p")
    assert e.error_type is ErrorType.RATE_LIMIT and e.retry_after == 1.5
    echoed = c(401, json.dumps({"error": {"message": f"bad key {KEY}"}}).encode(), provider="p", secrets=[KEY])
    assert KEY not in echoed.message and "[REDACTED]" in echoed.message


def test_redact_forms():
    key = 'sk-"quoted"\\key'
    text = f"raw {key} json {json.dumps(key)} repr {key.encode()!r}"
    assert key not in redact(text, [key]) and "quoted" not in redact(text, [key])
    assert redact("nothing here", [None, ""]) == "nothing here"


# --------------------------------------------------------------------------- SSE parser


def feed_all(chunks, decoder=None):
    decoder = decoder or SSEDecoder()
    out = []
    for c in chunks:
        out.extend(decoder.feed(c))
    return out, decoder


STREAM = (
    b": comment\r\n"
    b"event: first\r\n"
    b"data: one\r\n"
    b"data:  two\r\n"  # one leading space is removed, the second kept
    b"id: 7\r\n"
    b"retry: 100\r\n"
    b"\r\n"
    b"data\n"  # a field with no colon: empty data line
    b"\n"
    b"event: ignored-no-data\n"
    b"\n"
    b"data: {\"x\": 1}\r"
    b"\r"
    b"unknown: field\n"
    b"data: tail\n"
    b"\n"
)
EXPECTED = [
    SSEEvent("first", "one\n two", "7", 100),
    SSEEvent("message", "", "7", None),
    SSEEvent("message", '{"x": 1}', "7", None),
    SSEEvent("message", "tail", "7", None),
]


def test_sse_whole_stream():
    events, decoder = feed_all([STREAM])
    assert events == EXPECTED
    assert not decoder.has_partial


def test_sse_every_split_point_and_byte_by_byte():
    for cut in range(1, len(STREAM)):
        events, _ = feed_all([STREAM[:cut], STREAM[cut:]])
        assert events == EXPECTED, cut
    events, _ = feed_all([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert events == EXPECTED


def test_sse_crlf_split_between_reads_is_one_line_end():
    events, _ = feed_all([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert events == [SSEEvent("message", "a\nb")]


def test_sse_partial_last_event_is_not_dispatched():
    events, decoder = feed_all([b"data: complete\n\ndata: cut off"])
    assert [e.data for e in events] == ["complete"]
    assert decoder.has_partial
    events, decoder = feed_all([b"data: complete\n\ndata: line ended but no blank line\n"])
    assert [e.data for e in events] == ["complete"] and decoder.has_partial


def test_sse_bom_and_utf8():
    events, _ = feed_all([b"\xef\xbb", b"\xbfdata: caf\xc3", b"\xa9\n\n"])
    assert events == [SSEEvent("message", "café")]


def test_sse_hostile_input():
    with pytest.raises(SSEError, match="not valid UTF-8"):
        feed_all([b"data: \xff\xfe\n\n"])
    with pytest.raises(SSEError, match="longer than 1000 bytes"):
        feed_all([b"data: " + b"x" * 600, b"x" * 600], SSEDecoder(max_line=1000))
    with pytest.raises(SSEError, match="longer than 1000 bytes"):
        feed_all([b"data: " + b"x" * 2000 + b"\n\n"], SSEDecoder(max_line=1000))
    with pytest.raises(SSEError, match="larger than"):
        feed_all([b"data: 12345\n" * 10], SSEDecoder(max_event=30))


async def test_aiter_sse_bytes_and_lines():
    async def chunks():
        for i in range(0, len(STREAM), 5):
            yield STREAM[i : i + 5]

    assert [e async for e in aiter_sse(chunks())] == EXPECTED

    async def lines():
        for line in ["event: x", "data: 1", "", "data: partial"]:
            yield line

    assert [e async for e in aiter_sse(lines())] == [SSEEvent("x", "1")]


# --------------------------------------------------------------------------- demo


async def test_demo_is_deterministic_and_useful():
    p = DemoProvider(chars_per_second=0)
    prompt = "How do I *switch* workspaces?\n```not code```"
    a = await collect(p, "demo", [ChatMessage("user", prompt)])
    b = await collect(p, "demo", [ChatMessage("user", prompt)])
    assert a.error is None and a.events == b.events
    text = a.text
    assert prompt in text  # quoted back literally (inside a fence longer than any in it)
    assert "````text\n" in text
    for key in ("ctrl+n", "enter", "alt+enter", "esc", "alt+up", "ctrl+r", "f2", "ctrl+o", "ctrl+e", "ctrl+p"):
        assert f"`{key}" in text
    assert "\n## " in text and "\n- " in text and "|---|---|" in text and "```toml" in text
    assert a.reasoning == ""
    assert a.events[-1] == Finish("stop")
    inp, out = a.usage
    assert inp == len(prompt) // 4 and out == len(text) // 4
    other = await collect(p, "demo", [ChatMessage("user", "something else entirely")])
    assert other.text != text
    assert a.request.stats.events == len([e for e in a.events if isinstance(e, TextDelta)])


async def test_demo_thinking_and_long_and_quote_limit():
    p = DemoProvider(chars_per_second=0)
    res = await collect(p, "demo:thinking", [ChatMessage("user", "x" * 500)])
    assert res.reasoning and "x" * 200 in res.text and "x" * 201 not in res.text
    assert isinstance(res.events[0], ReasoningDelta)
    res = await collect(p, "demo", [ChatMessage("user", "/long 7")])
    assert sum(1 for line in res.text.split("\n") if line.startswith("**")) == 7


@pytest.mark.parametrize("error_type", list(ErrorType))
async def test_demo_fail(error_type):
    res = await collect(DemoProvider(chars_per_second=0), "demo", [ChatMessage("user", f"/fail {error_type.value}")])
    assert res.error is not None and res.error.error_type is error_type
    assert res.error.provider == "demo"
    assert not any(isinstance(e, Finish) for e in res.events)
    if error_type is not ErrorType.EMPTY_OUTPUT:
        assert 0 < len(res.events) <= 8  # a few words first


async def test_demo_fail_unknown_type_explains():
    res = await collect(DemoProvider(chars_per_second=0), "demo", [ChatMessage("user", "/fail bogus")])
    assert res.error is None and "`rate_limit`" in res.text


async def test_demo_paces_and_cancels_promptly():
    p = DemoProvider(chars_per_second=200)
    got: list = []
    five = asyncio.Event()

    async def consume():
        async for e in p.stream(StreamRequest("demo", [ChatMessage("user", "hi")])):
            got.append(e)
            if len(got) == 5:
                five.set()

    start = time.perf_counter()
    task = asyncio.create_task(consume())
    await asyncio.wait_for(five.wait(), 5)
    elapsed = time.perf_counter() - start
    chars = sum(len(e.text) for e in got)
    assert elapsed >= chars / 200 * 0.8  # paced, not instant
    t0 = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - t0 < 0.2


async def test_demo_continues_from_the_text_so_far():
    """Continue on the demo model: the rest of the same reply, so the joined reply is whole."""
    p = DemoProvider(chars_per_second=0)
    whole = (await collect(p, "demo", [ChatMessage("user", "/long 3")])).text
    req = StreamRequest("demo", [ChatMessage("user", "/long 3")], prefill=whole[:57])
    rest = "".join([e.text async for e in p.stream(req) if isinstance(e, TextDelta)])
    assert whole[:57] + rest == whole
