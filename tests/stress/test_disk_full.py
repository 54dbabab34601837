"""Disk-full matrix: every way a full disk can hit a turn, on both protocols, then space returns.

Each case streams one reply through the real HTTP path while writes fail, then frees the disk
without any user action and checks: chat.jsonl is whole JSONL at every step (never a torn line),
the text the user saw is on disk once space returns (written by the engine's save loop), the
audit log says write_failed then written_after_retry when the commit was refused, and no case
hangs. Faults come from ``atomic.FAULTS`` (deterministic: half the bytes land, then ENOSPC) and,
where a tmpfs can be mounted, from a real 2 MB file system filled to a few KB.

`make test` runs a few cases; `make stress` (MUXTUI_STRESS=full) runs the whole matrix.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time

import pytest

from muxtui import config as config_mod
from muxtui.engine import atomic
from muxtui.engine import events as ev
from muxtui.engine.logs import EventLog
from muxtui.engine.manager import StreamManager
from muxtui.engine.storage import Storage
from tests.engine.test_dataloss import fill, jsonl_ok, mount_tmpfs, umount

from .conftest import record

FULL = os.environ.get("MUXTUI_STRESS") == "full"

KINDS = [("append",), ("append", "log"), ("partial", "append", "log"), ("log",), ("partial",)]
COUNTS = [1, 3, None]  # None: the disk stays full until the test frees it
PROTOCOLS = ["fake", "fakeanth"]
SIZES = ["chunks=40&delay_ms=1", "huge=200000"]
MATRIX = list(itertools.product(KINDS, COUNTS, PROTOCOLS, SIZES))
CASES = MATRIX if FULL else random.Random(10).sample(MATRIX, 6)


def manager_at(cfg, root) -> tuple[StreamManager, list[ev.Event], asyncio.Event]:
    manager = StreamManager(cfg, Storage(root / "data"), EventLog(root / "logs"))
    events: list[ev.Event] = []
    got = asyncio.Event()
    manager.subscribe(lambda e: (events.append(e), got.set()))
    return manager, events, got


async def wait_event(events, got, pred, timeout: float = 20.0) -> ev.Event:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for e in events:
            if pred(e):
                return e
        got.clear()
        left = deadline - loop.time()
        assert left > 0, "event never came"
        await asyncio.wait_for(got.wait(), left)


async def one_turn(manager, events, got, model: str, fill_disk, free_disk) -> dict:
    """Stream one reply on a full disk, free it, and report what happened."""
    t0 = time.monotonic()
    info = await manager.create_workspace("w", model)
    ws = await manager.open_workspace(info.id)
    fill_disk()
    await manager.send(info.id, "hello")
    done = await wait_event(events, got, lambda e: e.type in ev.STREAM_CLOSED and e.workspace == info.id)
    await asyncio.wait_for(manager.wait_idle(info.id), 20)
    torn = False
    try:
        jsonl_ok(ws.store.chat)
    except (AssertionError, ValueError):
        torn = True
    shown = done.data["message"]
    unsaved = bool(shown.get("unsaved"))
    free_disk()
    if unsaved:  # no user action: the save loop must write it
        await wait_event(events, got, lambda e: e.type == ev.MESSAGE_SAVED and e.workspace == info.id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while manager.log.pending and loop.time() < deadline:  # written in the same save round
        await asyncio.sleep(0.02)
    try:
        records = jsonl_ok(ws.store.chat)
    except (AssertionError, ValueError):
        records, torn = [], True
    kinds = [r.get("close_kind") for r in manager.log.audit()]
    await manager.shutdown()
    return {
        "torn": torn,
        "lost": not records or records[-1].get("content") != shown["content"] or manager.has_unsaved(),
        "unsaved": unsaved,
        "audited": (not unsaved) or kinds[-2:] == ["write_failed", "written_after_retry"],
        "status": records[-1].get("status") if records else None,
        "secs": time.monotonic() - t0,
        "chars": len(shown["content"]),
    }


@pytest.mark.parametrize("kinds,count,provider,size", CASES,
                         ids=["-".join(k) + f"-{c or 'full'}-{p}-{s[:5]}" for k, c, p, s in CASES])
async def test_disk_full_matrix(home, fake_server, kinds, count, provider, size):  # noqa: F811
    cfg = config_mod.load(home.config_file)
    cfg.stream.retry_attempts = 1
    manager, events, got = manager_at(cfg, home.config_dir)
    def fill_disk():
        for kind in kinds:
            atomic.FAULTS.arm(kind, float("inf") if count is None else count, skip=1 if kind == "append" else 0)

    try:
        out = await one_turn(manager, events, got, f"{provider}:m?{size}", fill_disk, atomic.FAULTS.disarm)
    finally:
        atomic.FAULTS.disarm()
    ok = not out["torn"] and not out["lost"] and out["audited"]
    record("disk full: injected ENOSPC", 1, int(ok), lost=int(out["lost"]), corrupted=int(out["torn"]),
           longest_hang=out["secs"], note="half of each refused write lands first; freed with no user action")
    assert not out["torn"], "chat.jsonl has a torn line"
    assert not out["lost"], out
    assert out["audited"], "write_failed / written_after_retry missing from the audit log"


TMPFS_CASES = list(itertools.product([8 * 1024, 64 * 1024, 256 * 1024], ["huge=100000", "huge=600000"],
                                     PROTOCOLS))
if not FULL:
    TMPFS_CASES = TMPFS_CASES[:3]


@pytest.mark.parametrize("leave,size,provider", TMPFS_CASES,
                         ids=[f"{lv // 1024}k-{s}-{p}" for lv, s, p in TMPFS_CASES])
async def test_real_tmpfs_matrix(tmp_path, home, fake_server, leave, size, provider):  # noqa: F811
    where = tmp_path / "small"
    if not mount_tmpfs(where):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        cfg = config_mod.load(home.config_file)
        cfg.stream.retry_attempts = 1
        manager, events, got = manager_at(cfg, where)
        ballast = where / "ballast"
        out = await one_turn(manager, events, got, f"{provider}:m?{size}", lambda: fill(where, leave), ballast.unlink)
    finally:
        umount(where)
    ok = not out["torn"] and not out["lost"] and out["audited"]
    record("disk full: real 2 MB tmpfs", 1, int(ok), lost=int(out["lost"]), corrupted=int(out["torn"]),
           longest_hang=out["secs"], note="filled to 8-256 KB free; the ballast removed with no user action")
    assert not out["torn"] and not out["lost"] and out["audited"], out
