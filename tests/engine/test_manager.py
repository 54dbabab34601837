"""The stream contract, point by point, against real HTTP to the local fake server."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import pytest

from muxtui.config import ProviderConfig
from muxtui.engine import events as ev
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers.base import Finish, TextDelta
from muxtui.engine.storage import WorkspaceBusy

from tests.helpers.engine import chat_lines, closed, gate
from tests.helpers.home import TEST_KEY


def uniq() -> int:
    """A seed that makes a model string unique (fail_first counters are per model string)."""
    return uuid.uuid4().int % 10**9


def model_of(request: dict) -> str | None:
    return (request["json"] or {}).get("model")


# ---- happy path -----------------------------------------------------------------------------


async def test_send_streams_and_commits_complete_message(make_manager, fake_server):
    manager, rec = make_manager()
    info = await manager.create_workspace("one", "fake:plain?chunks=30&seed=3")
    assert await manager.send(info.id, "hello") == "started"
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_COMPLETE
    ws = manager.workspace(info.id)
    reply = ws.messages[-1]
    idx = next(i for i, r in enumerate(fake_server.requests) if model_of(r) == "plain?chunks=30&seed=3")
    assert reply["content"] == fake_server.sent_text(idx)
    assert reply["status"] == "complete" and reply["role"] == "assistant"
    assert reply["model"] == "fake:plain?chunks=30&seed=3"
    assert reply["usage"]["output_tokens"] > 0
    # Durable: a fresh read of chat.jsonl has both messages with increasing seq, no partial left.
    lines = chat_lines(ws)
    assert [m["role"] for m in lines] == ["user", "assistant"]
    assert lines[0]["seq"] < lines[1]["seq"]
    assert not ws.store.partial.exists()
    # Deltas reassemble into exactly the committed text, in order.
    text = "".join(e.data.get("text", "") for e in rec.of(ev.STREAM_DELTA))
    assert text == reply["content"]


async def test_anthropic_provider_end_to_end_with_reasoning(make_manager):
    manager, rec = make_manager()
    info = await manager.create_workspace("a", "fakeanth:claude?chunks=12&reasoning=4")
    await manager.send(info.id, "think")
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_COMPLETE, done.data
    msg = done.data["message"]
    assert msg["reasoning"] and msg["content"]
    assert msg["usage"].get("input_tokens") is not None


# ---- 1. one lock per workspace ----------------------------------------------------------------


async def test_new_stream_waits_for_old_to_commit_interrupted(make_manager, fake_server):
    manager, rec = make_manager()
    g = gate()
    info = await manager.create_workspace("w", f"fake:m?chunks=50&pause_after=5&gate={g}")
    await manager.send(info.id, "first")
    await fake_server.areached(g)
    await rec.wait_for(lambda e: e.type == ev.STREAM_DELTA)
    await manager.set_model(info.id, "fake:m?chunks=5")
    second = await manager.start_stream(info.id)
    # By the time start_stream returned, the old stream had exited and committed.
    old_close = next(e for e in rec.events if e.type in ev.STREAM_CLOSED)
    assert old_close.type == ev.STREAM_INTERRUPTED
    types = rec.types(info.id)
    assert types.index(ev.STREAM_INTERRUPTED) < [i for i, t in enumerate(types) if t == ev.STREAM_STARTED][1]
    await rec.wait_for(closed(info.id, second))
    statuses = [m["status"] for m in chat_lines(manager.workspace(info.id)) if m["role"] == "assistant"]
    assert statuses == ["interrupted", "complete"]
    assert manager.workspace(info.id).messages[1]["content"]  # the old partial text was kept
    fake_server.release(g)


async def test_rapid_restarts_serialise(make_manager, fake_server):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m?chunks=40&delay_ms=2")
    await manager.send(info.id, "go")
    ids = await asyncio.gather(*(manager.start_stream(info.id) for _ in range(6)))
    await manager.wait_idle(info.id)
    # Started/closed events strictly alternate: never two streams at once in one workspace.
    kinds = ["start" if e.type == ev.STREAM_STARTED else "close"
             for e in rec.events if e.type == ev.STREAM_STARTED or e.type in ev.STREAM_CLOSED]
    assert kinds == ["start", "close"] * 7
    last = [e for e in rec.events if e.type in ev.STREAM_CLOSED][-1]
    assert last.type == ev.STREAM_COMPLETE and last.data["request_id"] == ids[-1]
    statuses = [m["status"] for m in manager.workspace(info.id).messages if m["role"] == "assistant"]
    assert statuses[-1] == "complete" and len(statuses) == 7


async def test_workspaces_stream_in_parallel(make_manager, fake_server):
    manager, rec = make_manager()
    g1, g2 = gate(), gate()
    a = await manager.create_workspace("a", f"fake:m?chunks=10&pause_after=3&gate={g1}")
    b = await manager.create_workspace("b", f"fake:m?chunks=10&pause_after=3&gate={g2}")
    await manager.send(a.id, "x")
    await manager.send(b.id, "y")
    # Both reach their gate while the other is still paused: neither blocks the other.
    await fake_server.areached(g1)
    await fake_server.areached(g2)
    assert manager.is_streaming(a.id) and manager.is_streaming(b.id)
    fake_server.release(g1)
    fake_server.release(g2)
    for w in (a, b):
        assert (await rec.wait_for(closed(w.id))).type == ev.STREAM_COMPLETE


# ---- 2. partial writes ----------------------------------------------------------------------


async def test_partial_is_written_atomically_while_streaming(make_manager, fake_server):
    manager, rec = make_manager()
    g = gate()
    info = await manager.create_workspace("w", f"fake:m?chunks=30&pause_after=10&gate={g}")
    await manager.send(info.id, "x")
    await fake_server.areached(g)
    ws = manager.workspace(info.id)
    # Wait (event-driven) for the writer to catch up with the 10 chunks sent.
    for _ in range(200):
        p = ws.store.read_partial()
        run = manager.current_run(info.id)
        if p and run and p["content"] == run.text and run.content_len:
            break
        await asyncio.sleep(0.02)  # polling the disk, not synchronising with the stream
    partial = ws.store.read_partial()
    assert partial["status"] == "streaming"
    assert partial["content"] and fake_server.sent_text(len(fake_server.requests) - 1).startswith(partial["content"])
    assert not [p for p in ws.store.folder.iterdir() if p.name.endswith(".tmp")]
    assert ws.store.partial.stat().st_mode & 0o777 == 0o600
    fake_server.release(g)
    await rec.wait_for(closed(info.id))
    assert not ws.store.partial.exists()


async def test_partial_writes_are_throttled_and_single_flight(make_manager, fake_server, monkeypatch):
    manager, rec = make_manager(partial_interval_ms=100)
    info = await manager.create_workspace("w", "fake:m?chunks=200&delay_ms=3")
    ws = manager.workspace(info.id)
    calls: list[tuple[str, float]] = []
    in_flight = 0
    max_in_flight = 0
    lock = threading.Lock()
    original = ws.store.write_partial

    def counting(snap):
        nonlocal in_flight, max_in_flight
        import time

        with lock:
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
        try:
            calls.append((snap["status"], time.monotonic()))
            original(snap)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(ws.store, "write_partial", counting)
    await manager.send(info.id, "x")
    await rec.wait_for(closed(info.id))
    streaming = [t for s, t in calls if s == "streaming"]
    assert max_in_flight == 1
    assert calls[-1][0] == "complete"  # always written at finish too
    gaps = [b - a for a, b in zip(streaming, streaming[1:])]
    assert gaps and min(gaps) >= 0.095  # at most one write per 100 ms window
    assert len(streaming) >= 3


# ---- 3. error path order -----------------------------------------------------------------------


async def test_error_waits_for_slow_partial_write_then_persists_error(make_manager, fake_server, monkeypatch):
    manager, rec = make_manager(retry_attempts=1)
    g = gate()
    info = await manager.create_workspace("w", f"fake:m?chunks=20&pause_after=4&gate={g}&fault=drop&after=6")
    ws = manager.workspace(info.id)
    order: list[str] = []
    release_write = threading.Event()
    write_started = threading.Event()
    original = ws.store.write_partial
    original_append = ws.store.append

    def slow_write(snap):
        if snap["status"] == "streaming" and not write_started.is_set():
            write_started.set()
            order.append("slow-write-start")
            release_write.wait(10)
            original(snap)
            order.append("slow-write-end")
            return
        order.append(f"write-{snap['status']}")
        original(snap)

    def append(rec_):
        order.append(f"append-{rec_.get('status', rec_.get('role'))}")
        return original_append(rec_)

    monkeypatch.setattr(ws.store, "write_partial", slow_write)
    monkeypatch.setattr(ws.store, "append", append)
    manager.subscribe(lambda e: order.append(f"event-{e.type}") if e.type in ev.STREAM_CLOSED else None)
    await manager.send(info.id, "x")
    await asyncio.to_thread(write_started.wait, 10)
    fake_server.release(g)  # the server now drops the connection: an error while the write is slow
    # Let the error reach the manager while the write is still blocked.
    await asyncio.sleep(0.2)
    assert "append-error" not in order
    release_write.set()
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_ERROR
    assert order.index("slow-write-end") < order.index("write-error") < order.index("append-error") \
        < order.index(f"event-{ev.STREAM_ERROR}")
    last = chat_lines(ws)[-1]
    assert last["status"] == "error" and last["error_type"] == "stream_truncated"
    assert last["content"]  # partial text kept
    assert not ws.store.partial.exists()  # no older partial left to be "recovered" later


# ---- 4. interrupt ------------------------------------------------------------------------------


async def test_interrupt_commits_partial_as_interrupted(make_manager, fake_server):
    manager, rec = make_manager()
    g = gate()
    info = await manager.create_workspace("w", f"fake:m?chunks=30&pause_after=8&gate={g}")
    await manager.send(info.id, "x")
    await fake_server.areached(g)
    await rec.wait_for(lambda e: e.type == ev.STREAM_DELTA)
    await manager.interrupt(info.id)
    assert not manager.is_streaming(info.id)
    last = chat_lines(manager.workspace(info.id))[-1]
    assert last["status"] == "interrupted"
    assert fake_server.sent_text(len(fake_server.requests) - 1).startswith(last["content"])
    assert last["content"]
    fake_server.release(g)


class MisbehavingProvider:
    """Reacts to cancellation in the three ways real providers do."""

    name = "odd"

    def __init__(self, mode: str):
        self.mode = mode
        self.reached = asyncio.Event()

    async def stream(self, request):
        yield TextDelta("some words ")
        self.reached.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self.mode == "raise_cancel":
                raise
            if self.mode == "own_error":
                raise StreamError(ErrorType.NETWORK, "socket closed") from None
            if self.mode == "just_close":
                return
        yield Finish("stop")

    async def aclose(self):
        pass


@pytest.mark.parametrize("mode", ["raise_cancel", "own_error", "just_close"])
async def test_interrupt_holds_whatever_the_provider_does(make_manager, mode):
    provider = MisbehavingProvider(mode)
    manager, rec = make_manager()
    manager._factory = lambda pc, cfg: provider
    info = await manager.create_workspace("w", "fake:anything")
    await manager.send(info.id, "x")
    await asyncio.wait_for(provider.reached.wait(), 5)
    await manager.interrupt(info.id)
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_INTERRUPTED
    last = chat_lines(manager.workspace(info.id))[-1]
    assert (last["status"], last["content"]) == ("interrupted", "some words ")


# ---- 5. bootstrap errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, error_type",
    [
        ("ghost:model", "config"),
        ("nokey:model", "authentication"),
        ("refused:model", "network"),
        ("badurl:model", "config"),
        ("fake:m?status=404", "model_not_found"),
        ("fake:m?status=401", "authentication"),
    ],
)
async def test_bootstrap_errors_end_in_persisted_error(make_manager, model, error_type):
    manager, rec = make_manager(retry_attempts=1)
    # A base_url that only fails at connect time (config.toml validation would refuse it).
    manager.config.providers["badurl"] = ProviderConfig("badurl", "openai", base_url="http://127.0.0.1:999999/v1")
    info = await manager.create_workspace("w", model)
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id), timeout=15)
    assert done.type == ev.STREAM_ERROR
    last = chat_lines(manager.workspace(info.id))[-1]
    assert last["status"] == "error" and last["error_type"] == error_type, last
    assert last["error"]
    assert TEST_KEY not in json.dumps(last)


async def test_empty_messages_are_refused(make_manager):
    manager, _ = make_manager()
    info = await manager.create_workspace("w")
    with pytest.raises(ValueError):
        await manager.send(info.id, "  \n ")
    with pytest.raises(ValueError):
        await manager.start_stream(info.id)
    assert not manager.workspace(info.id).store.chat.exists()


async def test_missing_key_message_says_what_to_set(make_manager):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "nokey:model")
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id))
    assert "MUXTUI_TEST_MISSING_KEY" in done.data["message"]["error"]


# ---- 6. stale writes ---------------------------------------------------------------------------


async def test_edit_earlier_message_refuses_stale_writes(make_manager, fake_server):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m?chunks=5")
    await manager.send(info.id, "first question")
    await rec.wait_for(closed(info.id))
    g = gate()
    await manager.set_model(info.id, f"fake:m?chunks=40&pause_after=5&gate={g}")
    await manager.send(info.id, "second question")
    await fake_server.areached(g)
    old_request = manager.current_run(info.id).request_id
    first_seq = manager.workspace(info.id).messages[0]["seq"]
    await manager.set_model(info.id, "fake:m?chunks=5")
    new_request = await manager.edit_and_resend(info.id, first_seq, "edited question")
    fake_server.release(g)
    await rec.wait_for(closed(info.id, new_request))
    lines = chat_lines(manager.workspace(info.id))
    marker = next(i for i, l in enumerate(lines) if l.get("kind") == "truncate")
    assert all(l.get("request_id") != old_request for l in lines[marker:])
    history = manager.workspace(info.id).messages
    assert [m["content"] for m in history if m["role"] == "user"] == ["edited question"]
    assert [m["status"] for m in history if m["role"] == "assistant"] == ["complete"]
    # A fresh load agrees with memory.
    assert [m["id"] for m in manager.workspace(info.id).store.load_history().messages] == [m["id"] for m in history]


async def test_delete_while_streaming_leaves_no_late_writes(make_manager, fake_server, home):
    manager, rec = make_manager()
    g = gate()
    info = await manager.create_workspace("doomed", f"fake:m?chunks=40&pause_after=5&gate={g}")
    await manager.send(info.id, "x")
    await fake_server.areached(g)
    folder = manager.workspace(info.id).store.folder
    await manager.delete_workspace(info.id)
    fake_server.release(g)
    assert not folder.exists()
    assert info.id not in [w.id for w in await manager.list_workspaces()]
    trashed = list((home.data_dir / "trash").iterdir())
    assert len(trashed) == 1
    # Nothing from the cancelled stream was committed after deletion.
    lines = [json.loads(x) for x in (trashed[0] / "chat.jsonl").read_text().splitlines()]
    assert [m["role"] for m in lines] == ["user"]
    assert not (trashed[0] / "partial.json").exists()


# ---- 7. queue ----------------------------------------------------------------------------------


async def test_queue_sends_merged_after_turn(make_manager, fake_server):
    manager, rec = make_manager()
    g = gate()
    info = await manager.create_workspace("w", f"fake:m?chunks=10&pause_after=2&gate={g}")
    await manager.send(info.id, "first")
    await fake_server.areached(g)
    assert await manager.send(info.id, "second") == "queued"
    assert await manager.send(info.id, "third") == "queued"
    ws = manager.workspace(info.id)
    assert [q["text"] for q in ws.store.load_queue()[0]] == ["second", "third"]
    await manager.set_model(info.id, "fake:m?chunks=4")  # the queued turn uses the new model
    fake_server.release(g)
    await manager.wait_idle(info.id)
    users = [m for m in ws.messages if m["role"] == "user"]
    assert [u["content"] for u in users] == ["first", "second\n\nthird"]
    assert [m["status"] for m in ws.messages if m["role"] == "assistant"] == ["complete", "complete"]
    assert not ws.store.queue_file.exists()
    assert [m["role"] for m in ws.messages] == ["user", "assistant", "user", "assistant"]


async def test_queue_survives_restart_and_is_editable(make_manager, fake_server):
    manager, rec = make_manager()
    g = gate()
    info = await manager.create_workspace("w", f"fake:m?chunks=10&pause_after=2&gate={g}")
    await manager.send(info.id, "first")
    await fake_server.areached(g)
    await manager.send(info.id, "a")
    await manager.send(info.id, "b")
    await manager.send(info.id, "c")
    items = manager.workspace(info.id).queue
    await manager.edit_queued(info.id, items[0]["id"], "A!")
    await manager.remove_queued(info.id, items[1]["id"])
    popped = await manager.pop_last_queued(info.id)
    assert popped["text"] == "c"
    # A second manager (a restarted process) sees the same queue.
    other, _ = make_manager()
    ws2 = await other.open_workspace(info.id)
    assert [q["text"] for q in ws2.queue] == ["A!"]
    handed_back = await manager.interrupt(info.id)
    fake_server.release(g)
    assert handed_back == "A!"
    assert manager.workspace(info.id).queue == []
    assert not manager.workspace(info.id).store.queue_file.exists()


async def test_queue_stays_after_error(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=1)
    g = gate()
    info = await manager.create_workspace("w", f"fake:m?chunks=10&pause_after=2&gate={g}&fault=drop&after=3")
    await manager.send(info.id, "first")
    await fake_server.areached(g)
    await manager.send(info.id, "later")
    fake_server.release(g)
    done = await rec.wait_for(closed(info.id))
    await manager.wait_idle(info.id)
    assert done.type == ev.STREAM_ERROR
    ws = manager.workspace(info.id)
    assert [q["text"] for q in ws.queue] == ["later"]
    assert [m["role"] for m in ws.messages] == ["user", "assistant"]


# ---- 8. retry and fallback ---------------------------------------------------------------------


async def test_retryable_errors_retry_with_backoff(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=3)
    delays: list[float] = []

    async def fake_sleep(d):
        delays.append(d)

    manager.sleep = fake_sleep
    model = f"fake:m?status=503&fail_first=2&chunks=5&seed={uniq()}"
    info = await manager.create_workspace("w", model)
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_COMPLETE
    retries = rec.of(ev.STREAM_RETRYING)
    assert [r.data["attempt"] for r in retries] == [2, 3]
    assert all(r.data["error_type"] == "server_error" for r in retries)
    assert len(delays) == 2 and delays[1] > delays[0] * 1.1  # doubling (with jitter)
    assert sum(1 for r in fake_server.requests if model_of(r) == model.split(":", 1)[1]) == 3


async def test_retry_after_is_honoured(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=2)
    delays: list[float] = []

    async def fake_sleep(d):
        delays.append(d)

    manager.sleep = fake_sleep
    info = await manager.create_workspace("w", f"fake:m?status=429&retry_after=7&fail_first=1&seed={uniq()}")
    await manager.send(info.id, "x")
    assert (await rec.wait_for(closed(info.id))).type == ev.STREAM_COMPLETE
    assert delays == [7]


@pytest.mark.parametrize("status, error_type", [(401, "authentication"), (402, "quota"), (404, "model_not_found")])
async def test_non_retryable_errors_are_not_retried(make_manager, fake_server, status, error_type):
    manager, rec = make_manager(retry_attempts=3)
    model = f"m?status={status}&seed={uniq()}"
    info = await manager.create_workspace("w", f"fake:{model}")
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id))
    assert done.data["message"]["error_type"] == error_type
    assert not rec.of(ev.STREAM_RETRYING)
    assert sum(1 for r in fake_server.requests if model_of(r) == model) == 1


async def test_fallback_chain_moves_turn_to_next_model(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=1, fallbacks={"fake:gone?status=404": ["fake:backup?chunks=4"]})
    info = await manager.create_workspace("w", "fake:gone?status=404")
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_COMPLETE
    assert done.data["message"]["model"] == "fake:backup?chunks=4"
    fb = rec.of(ev.STREAM_FALLBACK)[0]
    assert (fb.data["to_model"], fb.data["error_type"]) == ("fake:backup?chunks=4", "model_not_found")


async def test_manual_retry_reruns_last_turn(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=1)
    info = await manager.create_workspace("w", "fake:m?status=500")
    await manager.send(info.id, "question")
    await rec.wait_for(closed(info.id))
    await manager.set_model(info.id, "fake:m?chunks=5")
    rid = await manager.retry(info.id)
    done = await rec.wait_for(closed(info.id, rid))
    assert done.type == ev.STREAM_COMPLETE
    ws = manager.workspace(info.id)
    assert [(m["role"], m.get("status")) for m in ws.messages] == [("user", None), ("assistant", "complete")]
    assert [(m["role"], m.get("status")) for m in ws.store.load_history().messages] == \
        [("user", None), ("assistant", "complete")]
    assert fake_server.requests[-1]["json"]["messages"][-1]["content"] == "question"


async def test_text_already_shown_is_never_thrown_away_by_a_retry(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=3)
    info = await manager.create_workspace("w", "fake:m?chunks=20&fault=drop&after=5")
    await manager.send(info.id, "x")
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_ERROR
    assert done.data["message"]["content"]
    assert done.data["message"]["retryable"] is True
    assert not rec.of(ev.STREAM_RETRYING)


# ---- 9. recovery + cross-process lock -----------------------------------------------------------


async def test_leftover_partial_is_recovered_once(make_manager):
    manager, _ = make_manager()
    info = await manager.create_workspace("w")
    store = manager.storage.store(info.id)
    store.append({"id": "m-user", "role": "user", "content": "q", "created_at": 1.0})
    store.write_partial({"request_id": "r1", "message_id": "m-part", "model": "fake:m", "content": "half an ans",
                         "created_at": 2.0, "status": "streaming"})
    other, rec = make_manager()
    ws = await other.open_workspace(info.id)
    last = ws.messages[-1]
    assert (last["status"], last["content"], last["recovered"]) == ("interrupted", "half an ans", True)
    assert rec.of(ev.WORKSPACE_RECOVERED)
    assert not store.partial.exists()
    third, _ = make_manager()
    ws3 = await third.open_workspace(info.id)
    assert [m["id"] for m in ws3.messages] == ["m-user", "m-part"]


async def test_partial_already_committed_before_crash_is_not_duplicated(make_manager):
    manager, _ = make_manager()
    info = await manager.create_workspace("w")
    store = manager.storage.store(info.id)
    store.append({"id": "m-a", "role": "assistant", "content": "done", "status": "complete", "created_at": 1.0})
    store.write_partial({"message_id": "m-a", "content": "don", "status": "streaming"})
    other, _ = make_manager()
    ws = await other.open_workspace(info.id)
    assert [m["id"] for m in ws.messages] == ["m-a"]
    assert not store.partial.exists()


async def test_partial_of_a_live_process_is_left_alone(make_manager, home):
    manager, _ = make_manager()
    info = await manager.create_workspace("w")
    live = manager.storage.store(info.id)  # stands in for the other process: its own fd + flock
    assert live.try_lock_stream()
    live.write_partial({"message_id": "m-live", "content": "still going", "status": "streaming"})
    other, rec = make_manager()
    ws = await other.open_workspace(info.id)
    assert ws.messages == [] and live.partial.exists()
    assert any("another muxtui process" in w for w in ws.warnings)
    # ... and a send from this process is refused clearly instead of interleaving.
    with pytest.raises(WorkspaceBusy, match="another muxtui process"):
        await other.send(info.id, "hi")
    live.unlock_stream()


async def test_queue_sent_just_before_crash_is_not_sent_twice(make_manager):
    manager, _ = make_manager()
    info = await manager.create_workspace("w")
    store = manager.storage.store(info.id)
    store.save_queue([{"id": "q1", "text": "a"}, {"id": "q2", "text": "b"}, {"id": "q3", "text": "c"}])
    store.append({"role": "user", "content": "a\n\nb", "queue_ids": ["q1", "q2"], "created_at": 1.0})
    other, _ = make_manager()
    ws = await other.open_workspace(info.id)
    assert [q["text"] for q in ws.queue] == ["c"]


# ---- observability ------------------------------------------------------------------------------


async def test_every_unclean_close_is_in_error_and_audit_logs(make_manager, home):
    manager, rec = make_manager(retry_attempts=1)
    ok = await manager.create_workspace("ok", "fake:m?chunks=3")
    bad = await manager.create_workspace("bad", "fake:m?chunks=20&fault=close&after=4")
    await manager.send(ok.id, "x")
    await manager.send(bad.id, "y")
    await rec.wait_for(closed(ok.id))
    await rec.wait_for(closed(bad.id))
    audit = manager.log.audit()
    errors = manager.log.errors()
    by_ws = {a["workspace"]: a for a in audit}
    assert by_ws[ok.id]["close_kind"] == "complete"
    bad_rec = by_ws[bad.id]
    assert bad_rec["close_kind"] == "premature_close" and bad_rec["error_type"] == "stream_truncated"
    for key in ("request_id", "model", "events", "bytes", "upstream_status", "duration", "attempt"):
        assert key in bad_rec
    assert bad_rec["upstream_status"] == 200 and bad_rec["events"] > 0 and bad_rec["bytes"] > 0
    assert [e["workspace"] for e in errors] == [bad.id]
    assert errors[0]["signature"] == "premature_close/stream_truncated/fake"
    groups = manager.log.grouped_errors()
    assert groups[0]["count"] == 1


async def test_api_key_never_reaches_any_file(make_manager, home, fake_server):
    manager, rec = make_manager(retry_attempts=1)
    for model in ("fake:m?status=401&echo_key=1", "fake:m?chunks=3", "fake:m?fault=drop&after=1"):
        info = await manager.create_workspace("w", model)
        await manager.send(info.id, "x")
        await rec.wait_for(closed(info.id))
    assert any(TEST_KEY in json.dumps(r["headers"]) for r in fake_server.requests)  # the key was really used
    for path in home.config_dir.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), path
    for e in rec.events:
        assert TEST_KEY not in e.to_json()


async def test_turns_written_by_another_process_are_reloaded_and_sent_as_context(make_manager, fake_server):
    """The app has a workspace open; `muxtui send` (another process) adds a turn to it. The app
    must show that turn and include it in the next request, not fork the conversation."""
    app_side, app_rec = make_manager()
    info = await app_side.create_workspace("shared", "fake:m?chunks=3")
    await app_side.send(info.id, "from the app")
    await app_rec.wait_for(closed(info.id))
    cli_side, cli_rec = make_manager()  # its own files and locks: another process's view
    await cli_side.send(info.id, "from the shell")
    await cli_rec.wait_for(closed(info.id))
    await cli_side.set_model(info.id, "fake:m?chunks=4")
    assert await app_side.sync_from_disk(info.id) is True
    ws = app_side.workspace(info.id)
    assert [m["content"] for m in ws.messages if m["role"] == "user"] == ["from the app", "from the shell"]
    assert ws.info.model == "fake:m?chunks=4"
    assert any(e.type == ev.HISTORY_RELOADED for e in app_rec.events)
    assert await app_side.sync_from_disk(info.id) is False  # nothing new: no reload
    await app_side.send(info.id, "next")
    await app_rec.wait_for(lambda e: e.type == ev.STREAM_COMPLETE and e.data["message"]["model"] == "fake:m?chunks=4")
    sent = [m["content"] for m in fake_server.requests[-1]["json"]["messages"] if m["role"] == "user"]
    assert sent == ["from the app", "from the shell", "next"]
    seqs = [m["seq"] for m in ws.store.load_history().messages]
    assert seqs == sorted(set(seqs)) and len(seqs) == 6
