"""Replies lost (issue 10, part 2): surrogates in the stream, failures in the write path, full disks.

Each case replays through the real HTTP path of the fake server. Before the fix a surrogate made
every write of the reply raise UnicodeEncodeError: no close event (spinner forever), nothing on
disk, no audit line; a full disk left a torn line in chat.jsonl, lost the reply kept "in memory"
and the write_failed audit record.

Full disks are simulated two ways: ``atomic.FAULTS`` (deterministic: the write really writes half
its bytes, then raises ENOSPC) and, when this machine lets us mount one, a real 2 MB tmpfs.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muxtui.engine import atomic
from muxtui.engine import events as ev
from muxtui.engine import manager as manager_mod
from muxtui.engine.logs import EventLog
from muxtui.engine.storage import Storage
from muxtui.engine.surrogates import SurrogateJoiner, fix_surrogates

from tests.helpers.engine import closed

SURROGATE_CASES = {
    "split": "Smile \U0001f600 done",  # the pair cut across two chunks is joined
    "lone": "bad \ufffd byte, then done",  # a lone low half becomes U+FFFD
    "high": "half \ufffd an emoji, then done",  # a high half with no partner, too
}
PROVIDERS = ["fake", "fakeanth"]  # OpenAI and Anthropic wire formats


@pytest.fixture(autouse=True)
def no_faults_left():
    yield
    atomic.FAULTS.disarm()


def jsonl_ok(path: Path) -> list[dict]:
    """Every line of an append-only file is a whole JSON record (no torn line)."""
    data = path.read_bytes() if path.exists() else b""
    assert data == b"" or data.endswith(b"\n"), f"{path.name} ends in a torn line: {data[-80:]!r}"
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def audit_kinds(manager) -> list[str]:
    return [r.get("close_kind") for r in manager.log.audit()]


# ---- surrogates -------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("case", sorted(SURROGATE_CASES))
async def test_surrogates_in_the_stream_complete_and_are_saved(make_manager, fake_server, provider, case):
    manager, rec = make_manager(retry_attempts=1)
    info = await manager.create_workspace("w", f"{provider}:m?surrogate={case}&delay_ms=5")
    await manager.send(info.id, "hi")
    done = await rec.wait_for(closed(info.id), timeout=15)
    want = SURROGATE_CASES[case]
    assert done.type == ev.STREAM_COMPLETE, done.data["message"].get("error")
    assert done.data["message"]["content"] == want
    shown = "".join(e.data.get("text", "") for e in rec.of(ev.STREAM_DELTA) if e.workspace == info.id)
    assert shown == want  # what the screen and `send` printed
    ws = manager.workspace(info.id)
    assert [m["content"] for m in jsonl_ok(ws.store.chat)] == ["hi", want]
    assert not ws.store.partial.exists()
    assert audit_kinds(manager)[-1] == "complete"
    # The next message in the same workspace works too (it used to stick the same way).
    await manager.send(info.id, "again")
    second = await rec.wait_for(lambda e: e.type in ev.STREAM_CLOSED and e is not done and e.workspace == info.id,
                                timeout=15)
    assert second.type == ev.STREAM_COMPLETE and second.data["message"]["content"] == want
    assert [m["content"] for m in ws.store.load_history().messages] == ["hi", want, "again", want]


@given(st.lists(st.text(alphabet=["a", "\u00e9", "\U0001f600", "\ud83d", "\ude00", "\udc80", "\udbff", " "],
                        max_size=6), max_size=8))
def test_joiner_result_never_depends_on_where_chunks_are_cut(chunks):
    joiner = SurrogateJoiner()
    out = "".join(joiner.feed(c) for c in chunks) + joiner.flush()
    assert out == fix_surrogates("".join(chunks))
    out.encode("utf-8")  # valid Unicode: every writer can encode it


async def test_interrupt_after_a_held_high_surrogate(make_manager, fake_server):
    """A stop right after the high half arrived: the turn ends interrupted, the half is U+FFFD."""
    manager, rec = make_manager(read_timeout=30)
    gate = f"sg{uuid.uuid4().hex[:8]}"
    info = await manager.create_workspace("w", f"fake:m?surrogate=split&pause_after=2&gate={gate}")
    await manager.send(info.id, "hi")
    await fake_server.areached(gate)
    await rec.wait_for(lambda e: e.type == ev.STREAM_DELTA and e.workspace == info.id)
    await manager.interrupt(info.id)
    done = await rec.wait_for(closed(info.id), timeout=15)
    fake_server.release(gate)
    assert done.type == ev.STREAM_INTERRUPTED
    assert done.data["message"]["content"].startswith("Smile ")
    assert manager.workspace(info.id).store.load_history().messages[-1]["status"] == "interrupted"


async def test_user_text_with_surrogates_is_saved(make_manager, fake_server):
    """argv bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape)."""
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m?chunks=3")
    await manager.send(info.id, "caf\udce9 \ud83d\ude00")
    done = await rec.wait_for(closed(info.id), timeout=15)
    assert done.type == ev.STREAM_COMPLETE
    assert jsonl_ok(manager.workspace(info.id).store.chat)[0]["content"] == "caf\ufffd \U0001f600"


# ---- anything failing in the write path -------------------------------------------------------

async def test_any_exception_writing_the_partial_ends_the_turn_with_write_failed(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=1)
    info = await manager.create_workspace("w", "fake:m?chunks=30&delay_ms=2")
    ws = await manager.open_workspace(info.id)

    def broken(partial):
        raise RuntimeError("a bug in the partial writer")

    ws.store.write_partial = broken
    await manager.send(info.id, "hi")
    done = await rec.wait_for(closed(info.id), timeout=15)
    msg = done.data["message"]
    assert done.type == ev.STREAM_ERROR and msg["error_type"] == "write_failed"
    assert "RuntimeError" in msg["error"] and msg["content"]
    stored = jsonl_ok(ws.store.chat)[-1]
    assert stored["content"] == msg["content"] and stored["error_type"] == "write_failed"
    assert audit_kinds(manager)[-1] == "write_failed"
    await asyncio.wait_for(manager.wait_idle(info.id), 5)


async def test_a_partial_write_failing_after_the_last_text_leaves_the_reply_complete(make_manager, fake_server):
    """All the text is in when the partial write fails (the disk filled just then): nothing was
    cut short, so the reply is complete and its commit saves it. Before, a failure noticed at the
    finish (or the usage) made a whole reply a write_failed error: the flaky real-tmpfs CLI test,
    whose one 300 kB chunk's partial write lost the race against the finish under load."""
    manager, rec = make_manager(retry_attempts=1)
    info = await manager.create_workspace("w", "fake:m?text=abcd&pause_after=1&gate=last")
    ws = await manager.open_workspace(info.id)

    def full(partial):
        fake_server.release("last")  # the finish leaves the server only once this write has begun
        raise OSError(errno.ENOSPC, "No space left on device")

    ws.store.write_partial = full
    await manager.send(info.id, "hi")
    done = await rec.wait_for(closed(info.id), timeout=15)
    msg = done.data["message"]
    assert done.type == ev.STREAM_COMPLETE and msg["status"] == "complete" and msg["content"] == "abcd"
    stored = jsonl_ok(ws.store.chat)[-1]
    assert stored["status"] == "complete" and stored["content"] == "abcd"
    assert any(e.type == ev.WARNING and "could not write the partial reply" in e.data.get("text", "")
               for e in rec.events)
    await asyncio.wait_for(manager.wait_idle(info.id), 5)


async def test_any_exception_committing_keeps_the_text_and_saves_it_later(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=1)
    info = await manager.create_workspace("w", "fake:m?chunks=12")
    ws = await manager.open_workspace(info.id)
    orig = ws.store.append
    broken = {"on": True}

    def append(record):
        if broken["on"] and record.get("role") == "assistant":
            raise ValueError("a bug in the commit")
        return orig(record)

    ws.store.append = append
    await manager.send(info.id, "hi")
    done = await rec.wait_for(closed(info.id), timeout=15)
    msg = done.data["message"]
    assert done.type == ev.STREAM_ERROR and msg["error_type"] == "write_failed" and msg["unsaved"]
    assert msg["content"] == fake_server.sent_text(fake_server.request_index("m?chunks=12"))
    assert ws.store.read_partial()["content"] == msg["content"]  # the partial is kept on disk
    broken["on"] = False
    saved = await rec.wait_for(lambda e: e.type == ev.MESSAGE_SAVED, timeout=15)
    assert saved.data["message"]["status"] == "complete" and saved.data["message"]["content"] == msg["content"]
    assert jsonl_ok(ws.store.chat)[-1]["content"] == msg["content"]
    assert not ws.store.partial.exists()


async def test_a_bug_in_the_close_path_still_ends_the_turn_and_saves_the_text(make_manager, fake_server,
                                                                              monkeypatch, caplog):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m?chunks=8")

    async def broken_close(*args, **kwargs):
        raise RuntimeError("a bug in _close")

    monkeypatch.setattr(manager, "_close", broken_close)
    await manager.send(info.id, "hi")
    done = await rec.wait_for(closed(info.id), timeout=15)
    sent = fake_server.sent_text(fake_server.request_index("m?chunks=8"))
    assert done.type == ev.STREAM_ERROR and done.data["message"]["content"] == sent
    await asyncio.wait_for(manager.wait_idle(info.id), 5)
    saved = await rec.wait_for(lambda e: e.type == ev.MESSAGE_SAVED, timeout=15)
    assert jsonl_ok(manager.workspace(info.id).store.chat)[-1]["content"] == sent == saved.data["message"]["content"]
    assert "stream task failed" in caplog.text


# ---- full disk: appends are all or nothing -----------------------------------------------------

async def test_append_on_a_full_disk_leaves_the_file_as_it_was(make_manager, fake_server):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m?chunks=3")
    ws = await manager.open_workspace(info.id)
    ws.store.append({"role": "user", "content": "kept", "created_at": 1.0})
    before = ws.store.chat.read_bytes()
    atomic.FAULTS.arm("append", 1)
    with pytest.raises(OSError) as raised:
        ws.store.append({"role": "assistant", "content": "x" * 100_000, "created_at": 2.0, "status": "complete"})
    assert raised.value.errno == errno.ENOSPC
    assert atomic.FAULTS.injected >= 1  # half the line really reached the file before the failure
    assert ws.store.chat.read_bytes() == before
    ws.store.append({"role": "assistant", "content": "after", "created_at": 3.0, "status": "complete"})
    assert [r["content"] for r in jsonl_ok(ws.store.chat)] == ["kept", "after"]
    assert [r["seq"] for r in jsonl_ok(ws.store.chat)] == [1, 2]


def test_log_append_on_a_full_disk_is_held_and_written_later(tmp_path):
    log = EventLog(tmp_path / "logs")
    assert log.record_close({"close_kind": "complete", "n": 1})
    before = log.audit_file.read_bytes()
    atomic.FAULTS.arm("log", 2)
    assert not log.record_close({"close_kind": "write_failed", "n": 2})
    assert log.audit_file.read_bytes() == before and log.pending == 2  # audit + errors, held in order
    assert log.flush_pending() and log.pending == 0
    assert [r["n"] for r in jsonl_ok(log.audit_file)] == [1, 2]
    assert [r["close_kind"] for r in jsonl_ok(log.errors_file)] == ["write_failed"]


# ---- full disk: the reply is retried and written once space returns -----------------------------

async def _disk_full_turn(make_manager, fake_server, model: str, kinds=("append", "log")):
    """A turn whose reply commit (and log records) hit a full disk; the user message got in."""
    manager, rec = make_manager(retry_attempts=1)
    info = await manager.create_workspace("w", model)
    ws = await manager.open_workspace(info.id)
    for kind in kinds:
        atomic.FAULTS.arm(kind, skip=1 if kind == "append" else 0)  # the user message fits
    await manager.send(info.id, "hello")
    done = await rec.wait_for(closed(info.id), timeout=15)
    await asyncio.wait_for(manager.wait_idle(info.id), 15)
    return manager, rec, info, ws, done


async def test_a_late_save_under_way_still_counts_as_unsaved_until_it_is_done(make_manager, fake_server):
    """The save loop and a flush (`muxtui send` waiting for the disk) race for a reply the disk
    refused. While the loop's save is under way (the reply appended, its books not kept yet), the
    reply still counts as unsaved, and a flush returns only after that save's MESSAGE_SAVED.
    Before, `send` saw nothing pending mid-save and said the saved reply was lost (the flaky
    real-tmpfs CLI test, about 1 run in 15 under load)."""
    manager, rec, info, ws, done = await _disk_full_turn(make_manager, fake_server, "fake:m?chunks=5",
                                                         kinds=("append",))
    assert done.data["message"]["unsaved"]
    entered, go = threading.Event(), threading.Event()
    update = manager.storage.update_workspace

    def slow_update(*args, **kwargs):
        entered.set()
        go.wait(10)
        return update(*args, **kwargs)

    manager.storage.update_workspace = slow_update
    atomic.FAULTS.disarm()  # space returns: the save loop appends the reply, then keeps its books
    assert await asyncio.to_thread(entered.wait, 10)
    assert [r["role"] for r in jsonl_ok(ws.store.chat)] == ["user", "assistant"]
    assert manager.has_unsaved()  # on disk, but not done: no MESSAGE_SAVED yet
    flushing = asyncio.ensure_future(manager.flush_unsaved(10))
    saved_before_return: list[bool] = []
    flushing.add_done_callback(
        lambda _: saved_before_return.append(any(e.type == ev.MESSAGE_SAVED for e in rec.events)))
    go.set()
    assert await asyncio.wait_for(flushing, 15) == []
    assert saved_before_return == [True]
    assert not manager.has_unsaved()
    assert [r["role"] for r in jsonl_ok(ws.store.chat)] == ["user", "assistant"]  # saved once


async def test_disk_full_reply_is_written_when_space_returns(make_manager, fake_server):
    manager, rec, info, ws, done = await _disk_full_turn(make_manager, fake_server, "fake:m?chunks=40")
    msg = done.data["message"]
    sent = fake_server.sent_text(fake_server.request_index("m?chunks=40"))
    assert done.type == ev.STREAM_ERROR and msg["error_type"] == "write_failed" and msg["unsaved"]
    assert "No space left on device" in msg["error"] and msg["content"] == sent
    assert [r["role"] for r in jsonl_ok(ws.store.chat)] == ["user"]  # no torn line
    assert manager.has_unsaved() and manager.log.pending >= 2
    # Space returns; nobody does anything: the save loop writes the reply and the log records.
    atomic.FAULTS.disarm()
    saved = await rec.wait_for(lambda e: e.type == ev.MESSAGE_SAVED and e.workspace == info.id, timeout=15)
    await manager.wait_idle(info.id)
    while manager.log.pending:  # written in the same save round, right after the reply
        await asyncio.sleep(0.01)
    on_disk = jsonl_ok(ws.store.chat)
    assert [r["role"] for r in on_disk] == ["user", "assistant"]
    assert on_disk[-1]["content"] == sent and on_disk[-1]["status"] == "complete"
    assert saved.data["message"]["seq"] == on_disk[-1]["seq"]
    assert ws.messages[-1]["seq"] == on_disk[-1]["seq"] and not ws.messages[-1].get("unsaved")
    assert not ws.store.partial.exists()
    kinds = audit_kinds(manager)
    assert kinds[-2:] == ["write_failed", "written_after_retry"], kinds
    errors = [r["close_kind"] for r in manager.log.errors()]
    assert errors[-2:] == ["write_failed", "written_after_retry"], errors
    assert manager.storage.list_workspaces()[0].last_status == "complete"
    # And the workspace goes on as usual.
    await manager.send(info.id, "next")
    again = await rec.wait_for(lambda e: e.type in ev.STREAM_CLOSED and e is not done, timeout=15)
    assert again.type == ev.STREAM_COMPLETE and len(jsonl_ok(ws.store.chat)) == 4


async def test_nothing_new_starts_while_a_reply_is_unsaved(make_manager, fake_server, monkeypatch):
    monkeypatch.setattr(manager_mod, "SAVE_RETRY_FIRST", 60.0)  # the loop stays asleep: only send saves
    manager, rec, info, ws, done = await _disk_full_turn(make_manager, fake_server, "fake:m?chunks=5")
    from muxtui.engine.storage import StorageError

    with pytest.raises(StorageError, match="cannot save the previous reply"):
        await manager.send(info.id, "next")
    assert not manager.is_streaming(info.id)
    atomic.FAULTS.disarm()
    assert await manager.send(info.id, "next") == "started"  # saves the old reply first
    await manager.wait_idle(info.id)
    assert [r["role"] for r in jsonl_ok(ws.store.chat)] == ["user", "assistant", "user", "assistant"]


async def test_shutdown_saves_the_unsaved_reply(make_manager, fake_server, monkeypatch):
    monkeypatch.setattr(manager_mod, "SAVE_RETRY_FIRST", 60.0)  # only shutdown can save it here
    manager, rec, info, ws, done = await _disk_full_turn(make_manager, fake_server, "fake:m?chunks=20")
    atomic.FAULTS.disarm()
    assert jsonl_ok(ws.store.chat)[-1]["role"] == "user"
    await manager.shutdown()
    on_disk = jsonl_ok(ws.store.chat)
    assert on_disk[-1]["content"] == done.data["message"]["content"] and on_disk[-1]["status"] == "complete"
    assert audit_kinds(manager)[-2:] == ["write_failed", "written_after_retry"]


async def test_shutdown_on_a_disk_that_stays_full_is_bounded_and_keeps_the_partial(make_manager, fake_server):
    manager, rec, info, ws, done = await _disk_full_turn(make_manager, fake_server, "fake:m?chunks=20")
    manager.shutdown_save_wait = 0.3
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await manager.shutdown()
    assert loop.time() - t0 < 5
    assert [r["role"] for r in jsonl_ok(ws.store.chat)] == ["user"]
    atomic.FAULTS.disarm()
    # The next start recovers what partial.json holds (here: the whole reply, as interrupted).
    later = manager_mod.StreamManager(manager.config, Storage(manager.storage.root), EventLog(manager.log.dir))
    reopened = await later.open_workspace(info.id)
    assert reopened.messages[-1]["content"] == done.data["message"]["content"]
    assert reopened.messages[-1]["status"] == "interrupted"


async def test_partial_and_commit_both_refused_then_saved(make_manager, fake_server):
    """The whole disk is full mid-stream: the first partial write fails (the turn stops there),
    the commit fails, nothing is on disk but the user message; space returns: all is written."""
    manager, rec, info, ws, done = await _disk_full_turn(
        make_manager, fake_server, "fake:m?chunks=40&delay_ms=2", kinds=("append", "log", "partial"))
    msg = done.data["message"]
    assert done.type == ev.STREAM_ERROR and msg["error_type"] == "write_failed" and msg["unsaved"]
    assert msg["content"] and not ws.store.partial.exists()
    assert not list(ws.store.folder.glob(".partial.json.*"))  # no temp file left behind
    atomic.FAULTS.disarm()
    saved = await rec.wait_for(lambda e: e.type == ev.MESSAGE_SAVED, timeout=15)
    assert saved.data["message"]["content"] == msg["content"]
    assert jsonl_ok(ws.store.chat)[-1]["content"] == msg["content"]


# ---- a real full disk: a 2 MB tmpfs -------------------------------------------------------------

def mount_tmpfs(where: Path, size: str = "2m") -> bool:
    where.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                           capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


def umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10)


@pytest.fixture
def tmpfs(tmp_path):
    where = tmp_path / "small"
    if not mount_tmpfs(where):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield where
    finally:
        umount(where)


def fill(folder: Path, leave: int = 48 * 1024) -> Path:
    """Fill the file system, then give back `leave` bytes; bounded by the file system's size."""
    ballast = folder / "ballast"
    block = b"\0" * 65536
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(10_000):
            try:
                os.write(fd, block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        size = os.fstat(fd).st_size
        os.ftruncate(fd, max(0, size - leave))
    finally:
        os.close(fd)
    return ballast


async def test_real_full_tmpfs_no_torn_line_and_saved_when_space_returns(tmpfs, home, fake_server):
    from muxtui import config as config_mod

    cfg = config_mod.load(home.config_file)
    cfg.stream.retry_attempts = 1
    storage = Storage(tmpfs / "data")
    manager = manager_mod.StreamManager(cfg, storage, EventLog(tmpfs / "logs"))
    events: list[ev.Event] = []
    got = asyncio.Event()
    manager.subscribe(lambda e: (events.append(e), got.set()))
    info = await manager.create_workspace("w", "fake:m?huge=300000")  # one 300 KB chunk
    ws = await manager.open_workspace(info.id)
    ballast = fill(tmpfs)
    await manager.send(info.id, "hello")
    await manager.wait_idle(info.id)
    done = next(e for e in events if e.type in ev.STREAM_CLOSED)
    msg = done.data["message"]
    assert done.type == ev.STREAM_ERROR and msg["error_type"] == "write_failed" and msg["unsaved"]
    assert len(msg["content"]) == 300_000
    assert [r["role"] for r in jsonl_ok(ws.store.chat)] == ["user"]  # the real kernel's ENOSPC: no torn line
    ballast.unlink()  # space returns
    while not any(e.type == ev.MESSAGE_SAVED for e in events):
        got.clear()
        await asyncio.wait_for(got.wait(), 15)
    on_disk = jsonl_ok(ws.store.chat)
    assert len(on_disk[-1]["content"]) == 300_000
    while manager.log.pending:
        await asyncio.sleep(0.01)
    assert [r["close_kind"] for r in manager.log.audit()][-2:] == ["write_failed", "written_after_retry"]
    await manager.shutdown()
