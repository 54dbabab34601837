"""OpenAI's Responses API (provider type ``openai-responses``) over real HTTP: the fake server's
scenarios, and the recordings under tests/fixtures/streams/responses/ replayed through the
engine (status, error type, saved text, reasoning, usage, finish reason, requests made)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from muxtui import config as config_mod
from muxtui.config import ProviderConfig
from muxtui.engine import events as ev
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers import PROVIDER_TYPES, ChatMessage, OpenAIResponsesProvider, StreamRequest
from muxtui.engine.providers.base import Finish, ReasoningDelta, TextDelta, UsageUpdate

from .conftest import TEST_KEY, closed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "streams" / "responses"
RECORDINGS = sorted(p.stem for p in FIXTURES.glob("*.json"))


async def collect(provider, model: str, messages=None, max_tokens=None):
    request = StreamRequest(model, messages or [ChatMessage("user", "hi")], max_tokens=max_tokens)
    events: list = []
    try:
        async for item in provider.stream(request):
            events.append(item)
    except StreamError as exc:
        return events, exc, request
    return events, None, request


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def reasoning_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, ReasoningDelta))


@pytest.fixture
async def provider(fake_server):
    p = OpenAIResponsesProvider("resp", fake_server.openai_base_url, TEST_KEY, reasoning_summary="auto",
                                connect_timeout=3, read_timeout=5)
    yield p
    await p.aclose()


def test_registered_as_a_provider_type():
    assert PROVIDER_TYPES["openai-responses"] is OpenAIResponsesProvider
    assert "openai-responses" in config_mod.PROVIDER_TYPES


async def test_request_shape_input_instructions_reasoning(provider, fake_server):
    messages = [ChatMessage("system", "be brief"), ChatMessage("user", "hi"), ChatMessage("assistant", "hello"),
                ChatMessage("user", "again")]
    events, err, _ = await collect(provider, "shape-1?chunks=3", messages, max_tokens=50)
    assert err is None
    sent = fake_server.requests[fake_server.request_index("shape-1?chunks=3")]
    assert sent["path"] == "/v1/responses"
    body = sent["json"]
    assert body["stream"] is True and "messages" not in body
    assert body["instructions"] == "be brief"
    assert body["input"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                             {"role": "user", "content": "again"}]
    assert body["reasoning"] == {"summary": "auto"} and body["max_output_tokens"] == 50
    assert sent["headers"]["authorization"] == f"Bearer {TEST_KEY}"


async def test_no_reasoning_key_unless_configured(fake_server):
    p = OpenAIResponsesProvider("r", fake_server.openai_base_url, None)
    try:
        _, err, _ = await collect(p, "plain-noreason?chunks=2")
    finally:
        await p.aclose()
    assert err is None
    assert "reasoning" not in fake_server.requests[fake_server.request_index("plain-noreason?chunks=2")]["json"]


async def test_text_reasoning_and_usage_with_cached_tokens(provider, fake_server):
    model = "rs-1?chunks=6&reasoning=4"
    events, err, request = await collect(provider, model)
    assert err is None
    idx = fake_server.request_index(model)
    assert text_of(events) == fake_server.sent_text(idx)
    assert reasoning_of(events) == fake_server.sent_reasoning(idx)
    usage = [e for e in events if isinstance(e, UsageUpdate)]
    assert usage and usage[-1].output_tokens == 10 and usage[-1].input_tokens
    assert events[-1] == Finish("completed")
    assert request.stats.upstream_status == 200 and request.stats.request_id


@pytest.mark.parametrize(
    ("query", "reason"),
    [("finish=length", "max_output_tokens"), ("finish=content_filter", "content_filter"), ("finish=refusal", "refusal")],
)
async def test_text_is_kept_with_the_finish_reason(provider, fake_server, query, reason):
    model = f"fin-{reason}?chunks=4&{query}"
    events, err, _ = await collect(provider, model)
    assert err is None
    assert text_of(events) == fake_server.sent_text(fake_server.request_index(model)) != ""
    assert events[-1] == Finish(reason)


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("chunks=3&finish=failed", ErrorType.SERVER_ERROR),  # response.failed
        ("chunks=3&fault=error_event&after=1", ErrorType.SERVER_ERROR),  # event: error
        ("chunks=3&done=0", ErrorType.STREAM_TRUNCATED),  # no terminal event
        ("status=429&quota=1", ErrorType.QUOTA),
        ("status=401", ErrorType.AUTHENTICATION),
        ("chunks=3&fault=malformed&after=1", ErrorType.API),
    ],
)
async def test_failures_are_classified(provider, query, kind):
    _, err, _ = await collect(provider, f"err-{kind}?{query}")
    assert err is not None and err.error_type == kind, err


async def test_json_reply_when_stream_is_ignored(fake_server):
    """A compatible server that answers the whole response object as JSON."""
    import httpx

    p = OpenAIResponsesProvider("r", fake_server.openai_base_url, None)
    async with httpx.AsyncClient() as client:
        r = await client.post(fake_server.openai_base_url + "/responses",
                              json={"model": "json-1?chunks=3&reasoning=2", "input": "hi"})
    assert r.status_code == 200 and r.json()["object"] == "response"
    events = p._events_from_json(r.json(), StreamRequest("m", []))
    assert text_of(events) and reasoning_of(events)
    assert events[-1] == Finish("completed")


# ---- the engine, end to end -------------------------------------------------------------------


def add_provider(manager, name: str, base_url: str, **extra) -> None:
    manager.config.providers[name] = ProviderConfig(name, "openai-responses", base_url=base_url,
                                                    api_key_env="MUXTUI_TEST_KEY", **extra)


async def test_engine_saves_reasoning_text_and_refusal(make_manager, fake_server):
    manager, rec = make_manager()
    add_provider(manager, "resp", fake_server.openai_base_url, reasoning_summary="auto")
    info = await manager.create_workspace("r", "resp:eng?chunks=5&reasoning=3")
    await manager.send(info.id, "think")
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_COMPLETE, done.data
    msg = done.data["message"]
    assert msg["reasoning"] and msg["content"] and msg["usage"]["output_tokens"] == 8
    assert fake_server.requests[fake_server.request_index("eng?chunks=5&reasoning=3")]["json"]["reasoning"] == {
        "summary": "auto"}


def load_recording(name: str) -> tuple[list[str], dict]:
    lines = [line for line in (FIXTURES / f"{name}.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return lines, json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))


def test_every_recording_has_a_source():
    sources = (FIXTURES / "SOURCES.md").read_text("utf-8")
    assert len(RECORDINGS) >= 10
    for name in RECORDINGS:
        assert f"`{name}`" in sources, name


@pytest.mark.parametrize("name", RECORDINGS)
async def test_replay_recording(name, make_manager, fake_server):
    lines, meta = load_recording(name)
    expect = meta["expect"]
    fake_server.add_recording(name, lines)
    manager, rec = make_manager()
    base = f"{fake_server.base_url}/x/replay={name}/v1"
    add_provider(manager, "rec", base)
    info = await manager.create_workspace(name, f"rec:{name}")
    before = sum(1 for r in fake_server.requests if (r["json"] or {}).get("model") == name)
    await manager.send(info.id, "replay")
    done = await rec.wait_for(closed(info.id))
    msg = done.data["message"]
    assert msg["status"] == expect["status"], msg
    assert msg.get("error_type") == expect.get("error_type"), msg
    if "error_contains" in expect:
        assert expect["error_contains"] in msg["error"]
    if "text" in expect:
        assert msg["content"] == expect["text"]
    for piece in expect.get("text_contains", []):
        assert piece in msg["content"]
    if "reasoning" in expect:
        assert msg.get("reasoning", "") == expect["reasoning"]
    if "finish_reason" in expect:
        assert msg.get("finish_reason") == expect["finish_reason"]
    if "usage" in expect:
        assert {k: msg["usage"].get(k) for k in expect["usage"]} == expect["usage"]
    made = sum(1 for r in fake_server.requests if (r["json"] or {}).get("model") == name) - before
    wanted = manager.config.stream.retry_attempts if expect["requests"] == "retry_attempts" else expect["requests"]
    assert made == wanted, f"{made} requests, expected {wanted}"


# ---- config ------------------------------------------------------------------------------------


def test_config_takes_openai_responses_with_reasoning_options(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[providers.oa]\ntype = "openai-responses"\nbase_url = "https://api.openai.com/v1"\n'
                    'reasoning_summary = "auto"\nreasoning_effort = "low"\n')
    pc = config_mod.load(path).providers["oa"]
    assert (pc.type, pc.reasoning_summary, pc.reasoning_effort) == ("openai-responses", "auto", "low")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('type = "openai-responses"\nbase_url = "http://x/v1"\nreasoning_summary = "always"', "must be one of auto"),
        ('type = "openai"\nbase_url = "http://x/v1"\nreasoning_summary = "auto"', 'only providers of type "openai-responses"'),
    ],
)
def test_config_rejects_bad_reasoning_options_with_line(tmp_path, body, words):
    path = tmp_path / "config.toml"
    path.write_text("[providers.oa]\n" + body + "\n")
    with pytest.raises(config_mod.ConfigError) as info:
        config_mod.load(path)
    assert words in str(info.value) and info.value.line == 4
