"""Gemini through its OpenAI-compatible endpoint, with the plain `openai` provider: the streams
under tests/fixtures/streams/gemini/ replayed over real HTTP through the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from muxtui.config import ProviderConfig

from .conftest import closed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "streams" / "gemini"
STREAMS = sorted(p.stem for p in FIXTURES.glob("*.json"))


def test_every_stream_has_a_source():
    sources = (FIXTURES / "SOURCES.md").read_text("utf-8")
    assert STREAMS
    for name in STREAMS:
        assert f"`{name}`" in sources


@pytest.mark.parametrize("name", STREAMS)
async def test_gemini_stream(name, make_manager, fake_server):
    lines = [x for x in (FIXTURES / f"{name}.jsonl").read_text("utf-8").splitlines() if x.strip()]
    expect = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))["expect"]
    fake_server.add_recording(f"gemini-{name}", lines)
    manager, rec = make_manager()
    manager.config.providers["gemini"] = ProviderConfig(
        "gemini", "openai", base_url=f"{fake_server.base_url}/x/replay=gemini-{name}/v1", api_key_env="MUXTUI_TEST_KEY")
    info = await manager.create_workspace(name, f"gemini:{name}")
    before = sum(1 for r in fake_server.requests if (r["json"] or {}).get("model") == name)
    await manager.send(info.id, "hi")
    msg = (await rec.wait_for(closed(info.id))).data["message"]
    assert msg["status"] == expect["status"], msg
    assert msg.get("error_type") == expect.get("error_type")
    assert msg["content"] == expect["text"]
    assert msg.get("finish_reason") == expect["finish_reason"]
    if "usage" in expect:
        assert {k: msg["usage"].get(k) for k in expect["usage"]} == expect["usage"]
    sent = [r for r in fake_server.requests if (r["json"] or {}).get("model") == name]
    assert len(sent) - before == expect["requests"]
    assert sent[-1]["json"]["stream_options"] == {"include_usage": True}  # Gemini honours it
