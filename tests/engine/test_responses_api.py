"""OpenAI's Responses API (provider type ``openai-responses``) over real HTTP against the fake
server's scenarios. The recordings (``tests/fixtures/streams/responses-*``) are replayed with all
the others by test_stream_fixtures.py."""

from __future__ import annotations

import pytest

from muxtui import config as config_mod
from muxtui.config import ProviderConfig
from muxtui.engine import events as ev
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers import ChatMessage, OpenAIResponsesProvider, StreamRequest, registry
from muxtui.engine.providers.base import Finish, ReasoningDelta, RefusalDelta, TextDelta, ToolCallDelta, UsageUpdate

from tests.helpers.engine import closed
from tests.helpers.home import TEST_KEY

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
    assert registry.get("openai-responses") is OpenAIResponsesProvider
    assert "openai-responses" in config_mod.provider_types()


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
    events, err, request = await collect(provider, model, [ChatMessage("user", "x" * 400)])
    assert err is None
    idx = fake_server.request_index(model)
    assert text_of(events) == fake_server.sent_text(idx)
    assert reasoning_of(events) == fake_server.sent_reasoning(idx)
    usage = [e for e in events if isinstance(e, UsageUpdate)]
    assert usage and usage[-1].output_tokens == 10 and usage[-1].input_tokens
    assert usage[-1].input_tokens == 100 and usage[-1].cached_tokens == 50 and usage[-1].reasoning_tokens == 4
    assert events[-1] == Finish("stop")
    assert request.stats.upstream_status == 200 and request.stats.request_id


@pytest.mark.parametrize(("query", "reason"), [("finish=length", "length"), ("finish=content_filter", "content_filter")])
async def test_incomplete_keeps_the_text_with_the_finish_reason(provider, fake_server, query, reason):
    model = f"fin-{reason}?chunks=4&{query}"
    events, err, _ = await collect(provider, model)
    assert err is None
    assert text_of(events) == fake_server.sent_text(fake_server.request_index(model)) != ""
    assert events[-1] == Finish(reason)


async def test_refusal_is_its_own_part(provider, fake_server):
    model = "fin-refusal?text=I+will+not.&finish=refusal"
    events, err, _ = await collect(provider, model)
    assert err is None and text_of(events) == ""
    assert "".join(e.text for e in events if isinstance(e, RefusalDelta)) == "I will not."
    assert events[-1] == Finish("refusal")


def test_a_call_becomes_a_tool_call_part():
    p = OpenAIResponsesProvider("r", "http://x/v1", None)
    events = p._events_from_json({"object": "response", "status": "completed", "output": [
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
        {"type": "web_search_call", "id": "ws_1", "action": {"query": "oslo weather"}},
    ]}, StreamRequest("m", []))
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [(c.name, c.arguments, c.server) for c in calls] == [
        ("get_weather", '{"city":"Oslo"}', False), ("web_search_call", '{"query": "oslo weather"}', True)]
    assert events[-1] == Finish("tool_calls")


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
    assert events[-1] == Finish("stop")


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
