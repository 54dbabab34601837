"""Every recorded provider response under tests/fixtures/streams, replayed through the real path.

The fake server sends the fixture's bytes (status, headers, gzip) for the model
``replay:<name>``; the app's httpx client, SSE parser, provider and stream manager turn it into
a saved message. Each fixture's ``expect`` says what must be saved:

    status, error_type         the message's status ("complete" / "interrupted" / "error") and error type
    text | text_startswith | text_endswith | text_contains
    reasoning | reasoning_startswith | reasoning_contains | reasoning_absent
    not_in_text                strings that must not reach the answer (e.g. "<think>")
    refusal | refusal_startswith
    tool_calls                 [{"name", "arguments" (exact text) or "arguments_json" (parsed), "server"?, "result_contains"?}]
    citations                  the number of distinct cited sources
    usage                      the saved usage dict, exactly
    finish_reason              the provider's raw finish / stop reason saved with the message
    error_contains             a piece of the saved error message
    requests                   how many HTTP requests the server saw (1 = no retry)
    sent                       a subset of the request JSON the client must have sent (first request)
    retry_sent_lacks           request keys the last request must not carry
    min_wait                   the least backoff wait (Retry-After honoured)
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from muxtui.config import ProviderConfig
from muxtui.testing.replay import fixture_names, fixtures_dir, load_fixture

from tests.helpers.engine import closed
from tests.helpers.home import TEST_KEY

NAMES = fixture_names()
SOURCES = fixtures_dir() / "SOURCES.md"


def test_the_fixture_set_is_large_and_sourced():
    providers = {load_fixture(n).provider for n in NAMES}
    assert len(NAMES) >= 40, NAMES
    assert len(providers) >= 8, providers
    sources = SOURCES.read_text(encoding="utf-8")
    missing = [n for n in NAMES if f"`{n}`" not in sources]
    assert not missing, f"fixtures without a line in SOURCES.md: {missing}"
    constructed = sources.count("| constructed from ")
    assert constructed < len(NAMES) / 2, "recordings must be the majority"
    for name in NAMES:
        assert load_fixture(name).expect, f"{name} has no expectations"


def _subset(want, got) -> bool:
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _subset(v, got[k]) for k, v in want.items())
    return want == got


@pytest.mark.parametrize("name", NAMES)
async def test_replay(name, make_manager, fake_server):
    fx = load_fixture(name)
    exp = fx.expect
    manager, rec = make_manager()
    waits: list[float] = []

    async def no_wait(delay: float) -> None:  # backoff delays are recorded, not slept
        waits.append(delay)

    manager.sleep = no_wait
    provider = {"openai": "fake", "anthropic": "fakeanth", "responses": "fakeresp"}[fx.protocol]
    if provider == "fakeresp":  # OpenAI's Responses API on the same server, reasoning summaries asked
        fake = manager.config.providers["fake"]
        manager.config.providers[provider] = ProviderConfig(
            provider, "openai-responses", base_url=fake.base_url, api_key_env=fake.api_key_env,
            reasoning_summary="auto")
    model = f"replay:{name}#{uuid.uuid4().hex[:8]}"  # unique: "next" chains count per model string
    seen_before = 0
    info = await manager.create_workspace(name, f"{provider}:{model}")
    await manager.send(info.id, "Hello")
    await rec.wait_for(closed(info.id), timeout=20)
    await manager.wait_idle(info.id)
    requests = [r for r in fake_server.requests if r.get("model") == model][seen_before:]

    ws = manager.workspace(info.id)
    saved = [json.loads(line) for line in Path(ws.store.chat).read_text().splitlines() if line.strip()]
    msg = saved[-1]
    assert msg["role"] == "assistant"
    assert msg == {k: v for k, v in ws.messages[-1].items()}, "memory and disk disagree"

    assert TEST_KEY not in json.dumps(msg), "the API key reached the saved message"
    assert msg["status"] == exp.get("status", "complete"), msg
    assert msg.get("error_type") == exp.get("error_type"), msg
    if "error_contains" in exp:
        assert exp["error_contains"] in msg.get("error", ""), msg.get("error")
    text = msg["content"]
    if "text" in exp:
        assert text == exp["text"]
    if "text_startswith" in exp:
        assert text.startswith(exp["text_startswith"]), text[:200]
    if "text_endswith" in exp:
        assert text.endswith(exp["text_endswith"]), text[-200:]
    if "text_contains" in exp:
        assert exp["text_contains"] in text, text[:300]
    for bad in exp.get("not_in_text", []):
        assert bad not in text, f"{bad!r} leaked into the answer: {text[:300]!r}"
    reasoning = msg.get("reasoning", "")
    if "reasoning" in exp:
        assert reasoning == exp["reasoning"]
    if "reasoning_startswith" in exp:
        assert reasoning.startswith(exp["reasoning_startswith"]), reasoning[:200]
    if "reasoning_contains" in exp:
        assert exp["reasoning_contains"] in reasoning, reasoning[:300]
    if exp.get("reasoning_absent", "reasoning" not in exp and not any(k.startswith("reasoning") for k in exp)):
        assert not reasoning, reasoning[:200]
    refusal = msg.get("refusal")
    if "refusal" in exp:
        assert refusal == exp["refusal"]
    elif "refusal_startswith" in exp:
        assert refusal and refusal.startswith(exp["refusal_startswith"]), refusal
    else:
        assert refusal is None
    calls = msg.get("tool_calls", [])
    want_calls = exp.get("tool_calls", [])
    assert len(calls) == len(want_calls), calls
    for got, want in zip(calls, want_calls):
        assert got.get("name") == want["name"], got
        if "arguments" in want:
            assert got["arguments"] == want["arguments"], got
        if "arguments_json" in want:
            assert json.loads(got["arguments"]) == want["arguments_json"], got
        assert bool(got.get("server")) == bool(want.get("server")), got
        if "result_contains" in want:
            assert want["result_contains"] in got.get("result", ""), got
    assert len(msg.get("citations", [])) == exp.get("citations", 0), msg.get("citations")
    assert msg.get("usage") == exp.get("usage"), msg.get("usage")
    assert msg.get("finish_reason") == exp.get("finish_reason"), msg.get("finish_reason")
    assert len(requests) == exp.get("requests", 1), f"{len(requests)} requests, backoff waits {waits}"
    if "sent" in exp:
        assert _subset(exp["sent"], requests[0]["json"]), requests[0]["json"]
    for key in exp.get("retry_sent_lacks", []):  # a rejected request option is dropped on the retry
        assert key not in requests[-1]["json"], requests[-1]["json"]
    if "min_wait" in exp:  # Retry-After honoured
        assert waits and min(waits) >= exp["min_wait"], waits
