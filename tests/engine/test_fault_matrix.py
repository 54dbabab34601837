"""Fault matrix: every fault ends in the right error type, a persisted message, a log record, no hang.

Both wire protocols (OpenAI Chat Completions and Anthropic Messages) against the real local server.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from muxtui.config import ProviderConfig
from muxtui.engine import events as ev

from tests.helpers.engine import closed

HTTP_CASES = [
    # scenario, error_type, close_kind
    ("status=401", "authentication", "upstream_error"),
    ("status=402", "quota", "upstream_error"),
    ("status=403", "authentication", "upstream_error"),
    ("status=404", "model_not_found", "upstream_error"),
    ("status=429", "rate_limit", "upstream_error"),
    ("status=429&retry_after=1", "rate_limit", "upstream_error"),
    ("status=429&quota=1", "quota", "upstream_error"),
    ("status=500", "server_error", "upstream_error"),
    ("status=503", "server_error", "upstream_error"),
    ("status=529", "server_error", "upstream_error"),
    ("context=1", "context_exceeded", "upstream_error"),
    ("chunks=10&fault=malformed&after=3", "api", "upstream_error"),
    ("chunks=10&fault=close&after=3", "stream_truncated", "premature_close"),
    ("chunks=10&fault=drop&after=3", "stream_truncated", "premature_close"),
    ("chunks=10&fault=error_event&after=3", "server_error", "upstream_error"),
    ("fault=hang_headers", "timeout", "bootstrap_failure"),
    ("chunks=10&fault=hang&after=3", "timeout", "upstream_error"),
    ("empty=1", "empty_output", "upstream_error"),
    ("chunks=10&finish=length", "max_output_tokens", "upstream_error"),
    ("chunks=10&finish=content_filter", "model_refusal", "upstream_error"),
]


@pytest.mark.parametrize("provider", ["fake", "fakeanth"])
@pytest.mark.parametrize("scenario, error_type, close_kind", HTTP_CASES)
async def test_http_fault(make_manager, provider, scenario, error_type, close_kind):
    manager, rec = make_manager(retry_attempts=1, read_timeout=0.5)
    info = await manager.create_workspace("w", f"{provider}:m?{scenario}")
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id), timeout=15)  # no hang
    msg = done.data["message"]
    assert done.type == ev.STREAM_ERROR
    assert (msg["status"], msg["error_type"]) == ("error", error_type), msg
    assert msg["error"]
    persisted = manager.workspace(info.id).store.load_history().messages[-1]
    assert persisted["id"] == msg["id"] and persisted["error_type"] == error_type
    errors = [e for e in manager.log.errors() if e["workspace"] == info.id]
    assert len(errors) == 1 and errors[0]["error_type"] == error_type
    assert errors[0]["close_kind"] == close_kind


@pytest.mark.parametrize(
    "base_url, error_type",
    [
        ("http://127.0.0.1:9/v1", "network"),  # connection refused
        ("http://nonexistent.invalid/v1", "network"),  # DNS failure
    ],
)
async def test_connect_faults(make_manager, base_url, error_type):
    manager, rec = make_manager(retry_attempts=1)
    manager.config.providers["x"] = ProviderConfig("x", "openai", base_url=base_url)
    info = await manager.create_workspace("w", "x:m")
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id), timeout=15)
    assert done.data["message"]["error_type"] == error_type
    assert manager.log.errors()[-1]["close_kind"] == "bootstrap_failure"


async def test_tls_to_a_plain_http_server_is_a_network_error(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=1)
    url = fake_server.openai_base_url.replace("http://", "https://")
    manager.config.providers["x"] = ProviderConfig("x", "openai", base_url=url)
    info = await manager.create_workspace("w", "x:m")
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id), timeout=15)
    assert done.data["message"]["error_type"] == "network"


@pytest.mark.parametrize("provider", ["fake", "fakeanth"])
async def test_huge_single_chunk_and_million_char_reply(make_manager, fake_server, provider):
    manager, rec = make_manager(retry_attempts=1)
    for scenario, size in (("huge=10000000", 10_000_000), ("chunks=1&huge=1000000", 1_000_000)):
        info = await manager.create_workspace("w", f"{provider}:m?{scenario}")
        await manager.send(info.id, "x")
        done = await rec.wait_for(closed(info.id), timeout=60)
        assert done.type == ev.STREAM_COMPLETE, done.data["message"].get("error")
        assert len(done.data["message"]["content"]) >= size
        stored = manager.workspace(info.id).store.load_history().messages[-1]
        assert stored["content"] == done.data["message"]["content"]


async def test_disk_full_while_writing_partial(make_manager, fake_server):
    """ENOSPC from the real kernel (/dev/full) on the partial write: a clear error, text kept."""
    manager, rec = make_manager(retry_attempts=1)
    info = await manager.create_workspace("w", "fake:m?chunks=40&delay_ms=2")
    await manager.send(info.id, "hello")
    await rec.wait_for(closed(info.id))
    before = manager.workspace(info.id).store.chat.read_bytes()
    ws = manager.workspace(info.id)
    tmp = ws.store.folder / f".partial.json.{os.getpid()}.tmp"
    os.symlink("/dev/full", tmp)
    g = f"full{os.getpid()}{len(before)}"
    await manager.set_model(info.id, f"fake:m?chunks=40&pause_after=3&gate={g}")
    await manager.send(info.id, "again")
    request_id = manager.current_run(info.id).request_id
    await fake_server.areached(g)
    deadline = asyncio.get_running_loop().time() + 30
    while tmp.exists():  # the first partial write hits ENOSPC and removes its temp file
        assert asyncio.get_running_loop().time() < deadline, "no partial write reached the full disk"
        await asyncio.sleep(0.01)
    fake_server.release(g)
    done = await rec.wait_for(closed(info.id, request_id), timeout=15)
    msg = done.data["message"]
    assert done.type == ev.STREAM_ERROR and msg["error_type"] == "write_failed"
    assert "No space left" in msg["error"]
    assert msg["content"]  # the text so far is kept and shown
    after = ws.store.chat.read_bytes()
    assert after.startswith(before)  # nothing already on disk was damaged
    assert json.loads(after.splitlines()[-1])["error_type"] == "write_failed"


async def test_no_stream_outlives_total_timeout(make_manager):
    manager, rec = make_manager(retry_attempts=1, read_timeout=30, total_timeout=0.5)
    info = await manager.create_workspace("w", "fake:m?chunks=1000&delay_ms=20")
    await manager.send(info.id, "x")
    done = await asyncio.wait_for(rec.wait_for(closed(info.id)), 10)
    assert done.data["message"]["error_type"] == "timeout"
    assert done.data["message"]["content"]
