"""The fake provider server, observed with raw httpx: protocol shapes, faults, gates."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from muxtui.testing import markdown_mix
from muxtui.testing.fakeserver import FakeServer, ScenarioError, parse_scenario

MSGS = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def srv():
    """A private server: these tests make odd requests the shared one should not record."""
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


def oa_body(model: str, **extra) -> dict:
    return {"model": model, "messages": MSGS, "stream": True, "stream_options": {"include_usage": True}, **extra}


def an_body(model: str, **extra) -> dict:
    return {"model": model, "messages": MSGS, "max_tokens": 100, "stream": True, **extra}


AN_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of a complete event-stream text."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        out.append((name, "\n".join(data)))
    return out


# --------------------------------------------------------------------------- markdown_mix


def test_markdown_mix_is_deterministic_and_exact():
    assert markdown_mix.generate(500, 7) == markdown_mix.generate(500, 7)
    assert markdown_mix.generate(500, 7) != markdown_mix.generate(500, 8)
    for n in (0, 1, 2, 3, 17, 100, 999):
        assert len(markdown_mix.generate(n, n)) == n
    assert all(isinstance(c, str) and c for c in markdown_mix.generate(300, 1))


def test_markdown_mix_looks_like_markdown():
    chunks = markdown_mix.generate(5000, 3)
    text = "".join(chunks)
    avg = len(text) / len(chunks)
    assert 5 <= avg <= 9, avg
    assert "\n## " in text
    assert "**" in text and "`" in text
    assert "\n- " in text and "\n1. " in text
    assert "\n> " in text
    fences = text.count("```python\n")
    assert fences >= 5  # about one per 40 lines
    assert text.count("```") == 2 * fences  # every fence is closed
    for n in range(1, 120):  # whatever the cut, no fence is left open
        assert "".join(markdown_mix.generate(n, n)).count("```") % 2 == 0


def test_markdown_mix_is_fast():
    markdown_mix._generate.cache_clear()
    start = time.perf_counter()
    chunks = markdown_mix.generate(20_000, 99)
    elapsed = time.perf_counter() - start
    assert len(chunks) == 20_000
    assert elapsed < 0.5, elapsed  # typically ~40 ms


# --------------------------------------------------------------------------- scenarios


def test_parse_scenario():
    sc = parse_scenario("gpt-x")
    assert (sc.name, sc.chunks, sc.status, sc.fault, sc.usage) == ("gpt-x", 20, None, None, True)
    sc = parse_scenario("m?chunks=5&delay_ms=2.5&fault=drop&after=3&usage=0&text=a+b%26c")
    assert (sc.name, sc.chunks, sc.delay_ms, sc.fault, sc.after, sc.usage) == ("m", 5, 2.5, "drop", 3, False)
    assert sc.text == "a b&c"
    with pytest.raises(ScenarioError, match="unknown scenario key"):
        parse_scenario("m?chunk=3")
    with pytest.raises(ScenarioError, match="bad value"):
        parse_scenario("m?chunks=many")
    with pytest.raises(ScenarioError, match="unknown fault"):
        parse_scenario("m?fault=explode")
    with pytest.raises(ScenarioError, match="gate"):
        parse_scenario("m?pause_after=2")


def test_bad_scenario_is_a_400_with_the_reason(srv, client):
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?chunk=3"))
    assert r.status_code == 400
    assert "unknown scenario key 'chunk'" in r.json()["error"]["message"]


# --------------------------------------------------------------------------- OpenAI shape


def test_openai_stream_shape(srv, client):
    model = "oa-shape?chunks=12&seed=4&reasoning=2"
    r = client.post(
        srv.openai_base_url + "/chat/completions", json=oa_body(model), headers={"Authorization": "Bearer sk-abc"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["transfer-encoding"] == "chunked"
    rid = r.headers["x-request-id"]
    events = sse_events(r.text)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks if c["choices"])
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content == "".join(markdown_mix.generate(12, 4))
    assert reasoning == "Let me"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 14
    i = srv.request_index(model)
    rec = srv.requests[i]
    assert rec["path"] == "/v1/chat/completions"
    assert rec["headers"]["authorization"] == "Bearer sk-abc"
    assert rec["json"]["messages"] == MSGS
    assert rec["scenario"]["chunks"] == 12 and rec["request_id"] == rid
    assert srv.sent_text(i) == content
    assert srv.sent_reasoning(i) == reasoning


def test_openai_usage_only_when_asked(srv, client):
    body = oa_body("oa-nousage?chunks=2")
    del body["stream_options"]
    events = sse_events(client.post(srv.openai_base_url + "/chat/completions", json=body).text)
    assert all("usage" not in json.loads(d) for _, d in events[:-1])
    events = sse_events(client.post(srv.openai_base_url + "/chat/completions", json=oa_body("oa-u0?usage=0")).text)
    assert all("usage" not in json.loads(d) for _, d in events[:-1])


def test_finish_reasons_and_literal_text(srv, client):
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?finish=length&text=Hello+world!"))
    chunks = [json.loads(d) for _, d in sse_events(r.text)[:-1]]
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [d for d in deltas if d] == ["Hell", "o wo", "rld!"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    r = client.post(srv.anthropic_base_url + "/v1/messages", json=an_body("m?finish=length"), headers=AN_HEADERS)
    deltas = [json.loads(d) for n, d in sse_events(r.text) if n == "message_delta"]
    assert deltas[0]["delta"]["stop_reason"] == "max_tokens"


# --------------------------------------------------------------------------- Anthropic shape


def test_anthropic_stream_shape(srv, client):
    model = "an-shape?chunks=3&reasoning=2"
    r = client.post(srv.anthropic_base_url + "/v1/messages", json=an_body(model), headers=AN_HEADERS)
    assert r.status_code == 200 and r.headers["request-id"].startswith("req_")
    events = sse_events(r.text)
    names = [n for n, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",  # signature
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(d) for _, d in events]
    assert all(p["type"] == n for (n, _), p in zip(events, payloads))
    assert payloads[0]["message"]["usage"]["input_tokens"] >= 1
    assert payloads[1]["content_block"]["type"] == "thinking"
    text = "".join(p["delta"]["text"] for p in payloads if p.get("delta", {}).get("type") == "text_delta")
    assert text == "".join(markdown_mix.generate(3, 0)) == srv.sent_text(srv.request_index(model))
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"
    assert payloads[-2]["usage"]["output_tokens"] == 5
    assert srv.requests[srv.request_index(model)]["headers"]["x-api-key"] == "sk-ant-test"


def test_anthropic_validates_like_the_real_api(srv, client):
    url = srv.anthropic_base_url + "/v1/messages"
    r = client.post(url, json=an_body("m", messages=[{"role": "system", "content": "x"}]), headers=AN_HEADERS)
    assert r.status_code == 400 and "Unexpected role" in r.json()["error"]["message"]
    body = an_body("m")
    del body["max_tokens"]
    r = client.post(url, json=body, headers=AN_HEADERS)
    assert r.status_code == 400 and r.json()["error"]["message"] == "max_tokens: Field required"
    r = client.post(url, json=an_body("m"), headers={"x-api-key": "k"})
    assert r.status_code == 400 and "anthropic-version" in r.json()["error"]["message"]


def test_non_streaming_requests_get_a_whole_reply(srv, client):
    r = client.post(srv.openai_base_url + "/chat/completions", json={"model": "m?chunks=4", "messages": MSGS})
    assert r.json()["choices"][0]["message"]["content"] == "".join(markdown_mix.generate(4, 0))
    body = an_body("m?chunks=4", stream=False)
    r = client.post(srv.anthropic_base_url + "/v1/messages", json=body, headers=AN_HEADERS)
    assert r.json()["content"][0]["text"] == "".join(markdown_mix.generate(4, 0))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "query,status,oa_code,an_type",
    [
        ("status=401", 401, "invalid_api_key", "authentication_error"),
        ("status=403", 403, "permission_denied", "permission_error"),
        ("status=404", 404, "model_not_found", "not_found_error"),
        ("status=429", 429, "rate_limit_exceeded", "rate_limit_error"),
        ("status=429&quota=1", 429, "insufficient_quota", "billing_error"),
        ("status=500", 500, None, "api_error"),
        ("status=529", 529, None, "overloaded_error"),
        ("context=1", 400, "context_length_exceeded", "invalid_request_error"),
    ],
)
def test_error_bodies(srv, client, query, status, oa_code, an_type):
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?" + query))
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == oa_code and err["message"]
    r = client.post(srv.anthropic_base_url + "/v1/messages", json=an_body("m?" + query), headers=AN_HEADERS)
    assert r.status_code == status
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == an_type
    if query == "context=1":
        assert r.json()["error"]["message"].startswith("prompt is too long")


def test_retry_after_header(srv, client):
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?status=429&retry_after=7"))
    assert r.headers["retry-after"] == "7"
    date = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    r = client.post(
        srv.openai_base_url + "/chat/completions", json=oa_body("m?" + httpx.QueryParams(status=503, retry_after=date).__str__())
    )
    assert r.status_code == 503 and r.headers["retry-after"] == date


def test_fail_first_counts_per_model_string(srv, client):
    model = f"ff-{time.monotonic_ns()}?status=503&fail_first=2"
    url = srv.openai_base_url + "/chat/completions"
    codes = [client.post(url, json=oa_body(model)).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    # a different model string has its own counter
    assert client.post(url, json=oa_body(model + "&seed=1")).status_code == 503


def test_echo_key_and_require_key(client):
    with FakeServer(require_key="sk-right") as s:
        url = s.openai_base_url + "/chat/completions"
        r = client.post(url, json=oa_body("m?chunks=1"), headers={"authorization": "Bearer sk-wrong-key"})
        assert r.status_code == 401 and "sk-wrong-key" not in r.text  # masked, like the real API
        r = client.post(url, json=oa_body("m?chunks=1"), headers={"authorization": "Bearer sk-right"})
        assert r.status_code == 200
        assert client.get(s.base_url + "/v1/models").status_code == 401
        r = client.get(s.base_url + "/v1/models", headers={"x-api-key": "sk-right"})
        assert [m["id"] for m in r.json()["data"]][0] == "fake-model"
        r = client.post(url, json=oa_body("m?status=401&echo_key=1"), headers={"authorization": "Bearer sk-right"})
        assert "sk-right" in r.json()["error"]["message"]
        assert client.post(s.base_url + "/nope", json={}).status_code == 404
        assert s.errors == []


# --------------------------------------------------------------------------- faults


def test_drop_aborts_after_k_chunks(srv, client):
    model = "drop?chunks=50&fault=drop&after=7"
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", srv.openai_base_url + "/chat/completions", json=oa_body(model)) as r:
            for line in r.iter_lines():
                received.append(line)
    events = [json.loads(l[6:]) for l in received if l.startswith("data: ")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
    assert text == "".join(markdown_mix.generate(50, 0)[:7])
    assert srv.sent_text(srv.request_index(model)) == text
    assert not any("[DONE]" in l for l in received)


def test_close_ends_cleanly_without_marker(srv, client):
    r = client.post(srv.anthropic_base_url + "/v1/messages", json=an_body("m?fault=close&after=4"), headers=AN_HEADERS)
    assert r.status_code == 200  # a complete HTTP body...
    names = [n for n, _ in sse_events(r.text)]
    assert names.count("content_block_delta") == 4
    assert "message_stop" not in names and "message_delta" not in names  # ...without the end


def test_done_0_omits_only_the_marker(srv, client):
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?chunks=3&done=0"))
    events = sse_events(r.text)
    assert "[DONE]" not in [d for _, d in events]
    assert json.loads(events[-2][1])["choices"][0]["finish_reason"] == "stop"


def test_malformed_and_garbage_lines(srv, client):
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?chunks=5&fault=malformed&after=2"))
    datas = [d for _, d in sse_events(r.text)]
    bad = [d for d in datas if d != "[DONE]" and not _is_json(d)]
    assert len(bad) == 1 and datas[-1] == "[DONE]"  # then it goes on
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?chunks=5&fault=garbage&after=2"))
    assert b"\xff\xfe" in r.content


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_error_event(srv, client):
    r = client.post(srv.anthropic_base_url + "/v1/messages", json=an_body("m?fault=error_event&after=2"), headers=AN_HEADERS)
    events = sse_events(r.text)
    assert events[-1][0] == "error" and json.loads(events[-1][1])["error"]["type"] == "overloaded_error"
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?fault=error_event&after=2"))
    events = sse_events(r.text)
    assert json.loads(events[-1][1])["error"]["type"] == "server_error"


def test_hang_headers_and_hang_mid_stream(srv):
    with httpx.Client(timeout=httpx.Timeout(5, read=0.3)) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?fault=hang_headers"))
        lines = []
        with pytest.raises(httpx.ReadTimeout):
            with c.stream("POST", srv.openai_base_url + "/chat/completions", json=oa_body("m?fault=hang&after=3")) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    lines.append(line)
        assert sum(1 for line in lines if '"content":"' in line and '"role"' not in line) == 3


def test_huge_and_empty(srv, client):
    model = "m?huge=3000000"
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body(model))
    contents = [json.loads(d)["choices"][0]["delta"].get("content") for _, d in sse_events(r.text)[:-1] if json.loads(d)["choices"]]
    big = [c for c in contents if c]
    assert len(big) == 1 and len(big[0]) == 3_000_000
    assert srv.sent_text(srv.request_index(model)) == big[0]
    r = client.post(srv.anthropic_base_url + "/v1/messages", json=an_body("m?empty=1"), headers=AN_HEADERS)
    names = [n for n, _ in sse_events(r.text)]
    assert "content_block_delta" not in names and names[-1] == "message_stop"


def test_many_chunks_fast(srv):
    model = "bench?chunks=20000&seed=5"
    start = time.perf_counter()
    with httpx.Client(timeout=10) as c:
        r = c.post(srv.openai_base_url + "/chat/completions", json=oa_body(model))
    elapsed = time.perf_counter() - start
    assert r.text.count("\n\n") == 20000 + 4  # role chunk, content, finish, usage, [DONE]
    assert srv.sent_text(srv.request_index(model)) == "".join(markdown_mix.generate(20000, 5))
    assert elapsed < 5, elapsed  # typically ~0.15 s


def test_first_delay(srv, client):
    start = time.perf_counter()
    client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?chunks=2&first_delay_ms=150"))
    assert time.perf_counter() - start >= 0.15


# --------------------------------------------------------------------------- gates


async def test_gate_pauses_and_releases(srv):
    model = f"gate-{time.monotonic_ns()}?chunks=30&pause_after=10&gate=g-pause"
    async with httpx.AsyncClient(timeout=5) as c:

        async def consume() -> str:
            r = await c.post(srv.openai_base_url + "/chat/completions", json=oa_body(model))
            return r.text

        task = asyncio.create_task(consume())
        await srv.areached("g-pause")
        i = srv.request_index(model)
        assert srv.sent_text(i) == "".join(markdown_mix.generate(30, 0)[:10])
        assert not task.done()
        srv.release("g-pause")
        text = await asyncio.wait_for(task, 5)
    assert text.endswith("data: [DONE]\n\n")
    assert srv.sent_text(i) == "".join(markdown_mix.generate(30, 0))


def test_wait_reached_times_out(srv):
    start = time.perf_counter()
    with pytest.raises(TimeoutError):
        srv.wait_reached("never-reached", timeout=0.05)
    assert time.perf_counter() - start < 2


def test_release_before_reach_passes_through(srv, client):
    srv.release("pre-released")
    r = client.post(srv.openai_base_url + "/chat/completions", json=oa_body("m?chunks=4&pause_after=1&gate=pre-released"))
    assert r.text.endswith("data: [DONE]\n\n")
    assert srv.reached("pre-released")


def test_stop_ends_streams_in_flight_and_leaks_nothing():
    before = threading.active_count()
    s = FakeServer().start()
    errors: list[BaseException] = []

    def consume(model: str) -> None:
        try:
            with httpx.Client(timeout=10) as c:
                c.post(s.openai_base_url + "/chat/completions", json=oa_body(model))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=consume, args=("m?chunks=5&pause_after=2&gate=stopgate",)),
        threading.Thread(target=consume, args=("m?fault=hang_headers",)),
    ]
    for t in threads:
        t.start()
    s.wait_reached("stopgate")
    s.wait_requests(2)
    start = time.perf_counter()
    s.stop()
    for t in threads:
        t.join(5)
    assert time.perf_counter() - start < 3
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 2 and all(isinstance(e, httpx.TransportError) for e in errors)
    assert threading.active_count() == before
    s.stop()  # idempotent


def test_non_http_bytes_get_an_immediate_400(srv):
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a TLS ClientHello
        assert sock.recv(100).startswith(b"HTTP/1.1 400 ")


def test_reset_clears_state(client):
    with FakeServer() as s:
        s.release("x")
        client.post(s.openai_base_url + "/chat/completions", json=oa_body("m?status=500&fail_first=1"))
        assert len(s.requests) == 1
        s.reset()
        assert s.requests == [] and not s.reached("x")
        r = client.post(s.openai_base_url + "/chat/completions", json=oa_body("m?status=500&fail_first=1"))
        assert r.status_code == 500  # the counter started again


def test_standalone_process():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "muxtui.testing.fakeserver", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            base = proc.stdout.readline().strip()
            assert base.startswith("http://127.0.0.1:")
            r = httpx.post(base + "/v1/chat/completions", json=oa_body("m?chunks=3"), timeout=5)
            assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
        finally:
            proc.terminate()
            assert proc.wait(10) == 0
