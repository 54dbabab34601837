"""Regressions found by a review of the engine: each reproduced a real bug before its fix.

Stops that arrive before a stream's first step or during its close, cancelled queue dispatch,
replies whose save failed, renames racing a commit, shutdown racing a start, bookkeeping that
raises after the commit, and audit close kinds.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
import uuid

import pytest

from muxtui.engine import events as ev
from muxtui.engine import storage as storage_mod

from tests.helpers.engine import closed


async def until(pred, timeout: float = 5.0) -> None:
    """Yield to the loop until `pred()` holds (a state change, not a fixed delay)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "condition never became true"
        await asyncio.sleep(0.005)


def stop_requested(manager, ws_id):
    run = manager.workspace(ws_id).run
    return lambda: run is not None and run.interrupted


# ---- test_cancel_before_first_step.py --------------------
# Bug: a stop that lands before the stream task's first step cancels the coroutine before its
# try/finally is entered: no close event for a started stream, and stream.lock is never released.
async def test_interrupt_right_after_send(make_manager, fake_server):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m?chunks=5")
    assert await manager.send(info.id, "hello") == "started"
    await manager.interrupt(info.id)           # same tick: the task has not run yet
    await rec.wait_for(closed(info.id))
    ws = manager.workspace(info.id)
    types = rec.types(info.id)
    other = manager.storage.store(info.id)      # another process's view (separate open file)
    can_lock = other.try_lock_stream()
    other.unlock_stream()
    assert any(t in ev.STREAM_CLOSED for t in types), f"started but never closed: {types}"
    assert can_lock, "stream.lock still held after the stream is gone"


# ---- test_swallowed_cancel.py --------------------
# Bug: a stop (shutdown/start_stream/retry/edit) that arrives while a *completing* turn is in
# _close is swallowed by _finish_regardless (uncancel) and _run_turns goes on to dispatch the queue.
def g():
    return f"g{uuid.uuid4().hex[:8]}"


async def _setup(make_manager, fake_server):
    manager, rec = make_manager(read_timeout=60)
    g1, g2 = g(), g()
    info = await manager.create_workspace("w", f"fake:m?chunks=10&pause_after=3&gate={g1}")
    await manager.send(info.id, "first")
    await fake_server.areached(g1)
    # The queued turn will use a model that pauses forever at g2.
    await manager.set_model(info.id, f"fake:m?chunks=50&pause_after=2&gate={g2}")
    assert await manager.send(info.id, "second") == "queued"
    entered, blk = threading.Event(), threading.Event()
    orig = manager.storage.update_workspace

    def slow_update(ws_id, **kw):
        if "last_status" in kw:
            entered.set()
            blk.wait(10)
        return orig(ws_id, **kw)

    manager.storage.update_workspace = slow_update
    fake_server.release(g1)
    await asyncio.to_thread(entered.wait, 10)  # the first turn is inside _close now
    return manager, rec, info, blk, g2


async def test_shutdown_during_close_with_queue(make_manager, fake_server):
    manager, rec, info, blk, g2 = await _setup(make_manager, fake_server)
    mark = len(rec.events)
    t = asyncio.ensure_future(manager.shutdown())
    await until(stop_requested(manager, info.id))
    blk.set()
    try:
        await asyncio.wait_for(asyncio.shield(t), 5)
        after = [e.type for e in rec.events[mark:]]
        assert ev.STREAM_STARTED not in after, f"a new turn started after shutdown(): {after}"
    finally:
        fake_server.release(g2)
        await t


async def test_start_stream_during_close_with_queue(make_manager, fake_server):
    manager, rec, info, blk, g2 = await _setup(make_manager, fake_server)
    mark = len(rec.events)
    t = asyncio.ensure_future(manager.start_stream(info.id))
    await until(stop_requested(manager, info.id))
    blk.set()
    try:
        # The stop wins: start_stream returns promptly (it does not wait for a queued turn).
        await asyncio.wait_for(asyncio.shield(t), 5)
        assert [q["text"] for q in manager.workspace(info.id).queue] == ["second"]
    finally:
        fake_server.release(g2)
        await t


async def test_edit_during_close_loses_queued_message(make_manager, fake_server):
    manager, rec, info, blk, g2 = await _setup(make_manager, fake_server)
    ws = manager.workspace(info.id)
    first_seq = ws.messages[0]["seq"]
    t = asyncio.ensure_future(manager.edit_and_resend(info.id, first_seq, "first, edited"))
    await until(stop_requested(manager, info.id))
    blk.set()
    await asyncio.wait_for(asyncio.shield(t), 10)
    fake_server.release(g2)
    await manager.set_model(info.id, "fake:m?chunks=3")
    await manager.wait_idle(info.id)
    texts = [m["content"] for m in ws.messages if m["role"] == "user"]
    reopened = manager.storage.store(info.id).load_history().messages
    assert "second" in texts or any(q["text"] == "second" for q in ws.queue), "queued 'second' vanished"


# ---- test_dispatch_cancel.py --------------------
# Bug: a stop that lands while the queue dispatch awaits the history append (a thread) leaves the
# merged user message on disk but not in memory, with the queue intact: it is sent again later.
async def test_start_stream_during_queue_dispatch_commits_twice(make_manager, fake_server):
    manager, rec = make_manager()
    g1 = f"g{uuid.uuid4().hex[:8]}"
    info = await manager.create_workspace("w", f"fake:m?chunks=10&pause_after=3&gate={g1}")
    await manager.send(info.id, "first")
    await fake_server.areached(g1)
    assert await manager.send(info.id, "second") == "queued"
    ws = manager.workspace(info.id)
    entered, blk = threading.Event(), threading.Event()
    orig = ws.store.append

    def slow_append(record):
        if record.get("queue_ids"):
            entered.set()
            blk.wait(10)
        return orig(record)

    ws.store.append = slow_append
    await manager.set_model(info.id, "fake:m?chunks=3")
    fake_server.release(g1)
    await asyncio.to_thread(entered.wait, 10)   # dispatch is appending "second"
    t = asyncio.ensure_future(manager.start_stream(info.id))  # e.g. the user re-runs / switches model
    await until(stop_requested(manager, info.id))
    blk.set()
    await t
    await manager.wait_idle(info.id)
    on_disk = [m["content"] for m in ws.store.load_history().messages if m["role"] == "user"]
    assert on_disk.count("second") == 1, on_disk


# ---- test_unsaved_seq.py --------------------
# An unsaved reply (commit failed) sits in ws.messages with no 'seq': retry/edit then crash.
async def _failed_commit(make_manager, model="fake:m?text=first+reply"):
    """One turn whose reply commit fails once with ENOSPC (the disk has room again afterwards)."""
    manager, rec = make_manager()
    info = await manager.create_workspace("w", model)
    ws = await manager.open_workspace(info.id)
    orig = ws.store.append
    state = {"fail": True}

    def flaky_append(record):
        if state["fail"] and record.get("role") == "assistant":
            state["fail"] = False
            raise OSError(errno.ENOSPC, "No space left on device")
        return orig(record)

    ws.store.append = flaky_append
    await manager.send(info.id, "one")
    await manager.wait_idle(info.id)
    assert ws.messages[-1].get("unsaved") and "seq" not in ws.messages[-1]
    return manager, rec, info, ws


async def test_retry_after_failed_commit(make_manager, fake_server):
    manager, rec, info, ws = await _failed_commit(make_manager)
    await manager.retry(info.id)   # KeyError: 'seq'


async def test_edit_after_failed_commit(make_manager, fake_server):
    manager, rec, info, ws = await _failed_commit(make_manager)
    await manager.edit_and_resend(info.id, ws.messages[0]["seq"], "one, edited")


# ---- test_unsaved_lost.py --------------------
# A reply whose commit failed (disk full for a moment) survives only as partial.json and in memory;
# the next turn's partial writer overwrites partial.json and the reply is gone from disk for good.
async def test_unsaved_reply_is_overwritten_by_next_turn(make_manager, fake_server):
    manager, rec, info, ws = await _failed_commit(make_manager, "fake:m?text=the+first+reply+text")
    await manager.set_model(info.id, "fake:m?text=second")
    await manager.send(info.id, "two")   # the disk has room again
    await manager.wait_idle(info.id)
    disk = [m["content"] for m in ws.store.load_history().messages]
    assert "the first reply text" in disk or (ws.store.read_partial() or {}).get("content") == "the first reply text"


# ---- test_model_revert.py --------------------
# update_workspace reads meta.json outside registry.lock: a set_model that lands while a stream's
# _close is updating last_activity is reverted in ws.info and in workspaces.json.
async def test_set_model_during_close_is_reverted(make_manager, fake_server, monkeypatch):
    manager, rec = make_manager()
    g1 = f"g{uuid.uuid4().hex[:8]}"
    info = await manager.create_workspace("w", f"fake:m?chunks=6&pause_after=2&gate={g1}")
    await manager.send(info.id, "hi")
    await fake_server.areached(g1)
    entered, go = threading.Event(), threading.Event()
    orig = storage_mod.WorkspaceStore.read_meta

    def read_meta(self):
        data = orig(self)
        if threading.current_thread() is not threading.main_thread() and not entered.is_set():
            entered.set()  # this is _close's update_workspace (last_activity/last_status)
            go.wait(5)
        return data

    monkeypatch.setattr(storage_mod.WorkspaceStore, "read_meta", read_meta)
    fake_server.release(g1)
    await asyncio.to_thread(entered.wait, 5)
    t = asyncio.ensure_future(manager.set_model(info.id, "fake:new-model"))
    await asyncio.sleep(0.05)  # give the rename its chance to race the blocked commit (both outcomes must be right)
    go.set()
    await t
    await manager.wait_idle(info.id)
    ws = manager.workspace(info.id)
    import json
    reg = {e["id"]: e["model"] for e in json.loads(manager.storage.registry_file.read_text())["workspaces"]}
    assert ws.info.model == "fake:new-model" and reg[info.id] == "fake:new-model"


# ---- test_shutdown_vs_start.py --------------------
# shutdown() does not stop a start that is waiting on the workspace lock: after it returns, a
# new stream runs on a provider table it has just cleared (a fresh, never-closed client).
async def test_shutdown_while_retry_waits(make_manager, fake_server):
    manager, rec = make_manager()
    g1 = f"g{uuid.uuid4().hex[:8]}"
    info = await manager.create_workspace("w", f"fake:m?chunks=10&pause_after=3&gate={g1}")
    await manager.send(info.id, "first")
    await fake_server.areached(g1)
    await manager.set_model(info.id, "fake:m?chunks=400&delay_ms=20")
    r = asyncio.ensure_future(manager.retry(info.id))   # holds ws.lock, waits in _stop_task
    await asyncio.sleep(0)
    await manager.shutdown()
    with pytest.raises(RuntimeError, match="shutting down"):
        await r  # the waiting start is refused, not run after shutdown
    fake_server.release(g1)
    assert not manager.is_streaming(info.id), "a stream is running after shutdown() returned"
    assert manager._providers == {}


# ---- test_close_raises.py --------------------
# _close catches only OSError around update_workspace: a registry entry with a null/odd field makes
# the commit succeed but the close event is never emitted (spinner forever, CLI exits 1 silently).
async def test_registry_null_field_swallows_close_event(make_manager, fake_server):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m?chunks=3")
    reg = manager.storage.registry_file
    d = json.loads(reg.read_text())
    d["workspaces"][0]["last_activity"] = None     # e.g. written by another tool/version
    reg.write_text(json.dumps(d))
    await manager.send(info.id, "hi")
    await manager.wait_idle(info.id)
    ws = manager.workspace(info.id)
    await rec.wait_for(closed(info.id), timeout=2)


# ---- test_kinds.py --------------------
@pytest.mark.parametrize("q", ["fault=drop&after=5", "fault=reset&after=5", "fault=close&after=5", "fault=error_event&after=5",
                               "fault=drop&after=0", "fault=close&after=0", "status=500", "done=0", "fault=malformed&after=3"])
async def test_kind(make_manager, fake_server, q):
    manager, rec = make_manager(retry_attempts=1)
    info = await manager.create_workspace("w", f"fake:m?chunks=10&seed={uuid.uuid4().int%10**9}&{q}")
    await manager.send(info.id, "x")
    e = await rec.wait_for(closed(info.id))
    a = manager.log.audit()[-1]


# ---- test_backoff_ops.py --------------------
async def _in_backoff(make_manager):
    manager, rec = make_manager(retry_base_delay=5.0, retry_max_delay=5.0)
    info = await manager.create_workspace("w", f"fake:m?status=503&fail_first=5&seed={uuid.uuid4().int%10**9}")
    await manager.send(info.id, "x")
    await rec.wait_for(lambda e: e.type == ev.STREAM_RETRYING)
    return manager, rec, info


async def test_delete_in_backoff(make_manager, fake_server):
    manager, rec, info = await _in_backoff(make_manager)
    folder = manager.workspace(info.id).store.folder
    await asyncio.wait_for(manager.delete_workspace(info.id), 3)
    assert not folder.exists()


async def test_interrupt_in_backoff(make_manager, fake_server):
    manager, rec, info = await _in_backoff(make_manager)
    await asyncio.wait_for(manager.interrupt(info.id), 3)
    e = await rec.wait_for(closed(info.id))
    assert e.type == ev.STREAM_INTERRUPTED
    ws = manager.workspace(info.id)
    assert ws.store._stream_fd is None and not ws.store.partial.exists()


# ---- test_baseline_edit.py --------------------
async def test_edit_while_streaming_keeps_queue(make_manager, fake_server):
    manager, rec = make_manager()
    g1 = f"g{uuid.uuid4().hex[:8]}"
    info = await manager.create_workspace("w", f"fake:m?chunks=10&pause_after=3&gate={g1}")
    await manager.send(info.id, "first")
    await fake_server.areached(g1)
    assert await manager.send(info.id, "second") == "queued"
    ws = manager.workspace(info.id)
    await manager.set_model(info.id, "fake:m?chunks=3")
    await manager.edit_and_resend(info.id, ws.messages[0]["seq"], "first, edited")
    await manager.wait_idle(info.id)
    fake_server.release(g1)
    assert [m["content"] for m in ws.messages if m["role"] == "user"] == ["first, edited", "second"]
