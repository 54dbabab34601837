"""Hypothesis drives random sequences of engine operations; invariants are checked after each step.

Operations: send (starts or queues), interrupt, wait for the turn, retry, edit an earlier message,
rename, delete, create, restart (shutdown + a fresh manager on the same folder), across several
workspaces streaming real HTTP from the fake server. Invariants:

- at most one stream per workspace (started/closed events strictly alternate);
- every history is a valid sequence (strictly increasing seq, unique ids, starts with a user
  message, assistant statuses valid) and memory equals a fresh read of the disk;
- no sent text is lost or duplicated: each is exactly once in history, the queue, the texts an
  interrupt handed back, or the texts an edit truncated (or its workspace was deleted);
- queue order is kept;
- a stream that was stale (truncated or deleted under it) never writes after that point.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from muxtui import config as config_mod
from muxtui.engine import events as ev
from muxtui.engine.logs import EventLog
from muxtui.engine.manager import StreamManager
from muxtui.engine.storage import Storage
from muxtui.testing.fakeserver import FakeServer

from tests.helpers.home import write_config

FULL = os.environ.get("MUXTUI_STRESS") == "full"
_server: FakeServer | None = None


def server() -> FakeServer:
    global _server
    if _server is None:
        _server = FakeServer()
        _server.start()
    return _server


MODELS = ["fake:m?chunks=30&delay_ms=1", "fake:m?chunks=6", "fake:m?chunks=20&delay_ms=2&fault=drop&after=4"]


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.tmp = Path(tempfile.mkdtemp(prefix="muxtui-stateful-"))
        srv = server()
        write_config(self.tmp, srv)
        self.counter = itertools.count()
        self.sent: dict[str, list[str]] = {}  # workspace -> texts sent
        self.handed_back: dict[str, list[str]] = {}
        self.truncated: dict[str, list[str]] = {}
        self.stale_requests: dict[str, set[str]] = {}
        self.ids: list[str] = []
        self.manager = self._new_manager()

    def _new_manager(self) -> StreamManager:
        cfg = config_mod.load(self.tmp / "config.toml")
        cfg.stream.retry_attempts = 1
        cfg.stream.partial_interval_ms = 20
        manager = StreamManager(cfg, Storage(self.tmp / "data"), EventLog(self.tmp / "logs"))
        self.events: list[ev.Event] = []
        manager.subscribe(self.events.append)
        return manager

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def teardown(self) -> None:
        try:
            self.run(self.manager.shutdown())
        finally:
            self.loop.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- rules ----------------------------------------------------------------------------
    @initialize()
    def create_some(self) -> None:
        for i in range(3):
            self.create(i % len(MODELS))

    @rule(model=st.integers(0, len(MODELS) - 1))
    @precondition(lambda self: len(self.ids) < 4)
    def create(self, model: int) -> None:
        info = self.run(self.manager.create_workspace(f"ws {len(self.ids)}", MODELS[model]))
        self.ids.append(info.id)
        for d in (self.sent, self.handed_back, self.truncated):
            d[info.id] = []
        self.stale_requests[info.id] = set()

    def pick(self, i: int) -> str:
        return self.ids[i % len(self.ids)]

    @rule(i=st.integers(0, 3))
    @precondition(lambda self: self.ids)
    def send(self, i: int) -> None:
        ws = self.pick(i)
        text = f"t{next(self.counter)}"
        self.run(self.manager.send(ws, text))
        self.sent[ws].append(text)

    @rule(i=st.integers(0, 3))
    @precondition(lambda self: self.ids)
    def interrupt(self, i: int) -> None:
        ws = self.pick(i)
        back = self.run(self.manager.interrupt(ws))
        if back:
            self.handed_back[ws].extend(back.split("\n\n"))

    @rule(i=st.integers(0, 3))
    @precondition(lambda self: self.ids)
    def wait(self, i: int) -> None:
        self.run(self.manager.wait_idle(self.pick(i)))

    @rule(i=st.integers(0, 3))
    @precondition(lambda self: self.ids)
    def retry(self, i: int) -> None:
        ws = self.pick(i)
        w = self.run(self.manager.open_workspace(ws))
        if not any(m["role"] == "user" for m in w.messages):
            return
        self._mark_stale(ws)
        self.run(self.manager.retry(ws))

    @rule(i=st.integers(0, 3), which=st.integers(0, 10))
    @precondition(lambda self: self.ids)
    def edit_earlier(self, i: int, which: int) -> None:
        ws = self.pick(i)
        w = self.run(self.manager.open_workspace(ws))
        users = [m for m in w.messages if m["role"] == "user"]
        if not users:
            return
        target = users[which % len(users)]
        dropped = [m for m in w.messages if m["seq"] >= target["seq"] and m["role"] == "user"]
        self._mark_stale(ws)
        text = f"t{next(self.counter)}"
        self.run(self.manager.edit_and_resend(ws, target["seq"], text))
        for m in dropped:
            self.truncated[ws].extend(m["content"].split("\n\n"))
        self.sent[ws].append(text)

    @rule(i=st.integers(0, 3), name=st.text(min_size=0, max_size=30))
    @precondition(lambda self: self.ids)
    def rename(self, i: int, name: str) -> None:
        ws = self.pick(i)
        info = self.run(self.manager.rename_workspace(ws, name))
        assert "\n" not in info.name and info.name

    @rule(i=st.integers(0, 3))
    @precondition(lambda self: len(self.ids) > 1)
    def delete(self, i: int) -> None:
        ws = self.pick(i)
        self.run(self.manager.delete_workspace(ws))
        self.ids.remove(ws)
        for d in (self.sent, self.handed_back, self.truncated, self.stale_requests):
            d.pop(ws)

    @rule()
    def restart(self) -> None:
        before = {ws: [m["id"] for m in self.run(self.manager.open_workspace(ws)).messages] for ws in self.ids}
        self.run(self.manager.shutdown())
        self.manager = self._new_manager()
        listed = [w.id for w in self.run(self.manager.list_workspaces())]
        assert listed == self.ids
        for ws in self.ids:
            # shutdown committed every partial as interrupted; nothing is recovered twice.
            after = [m["id"] for m in self.run(self.manager.open_workspace(ws)).messages]
            assert after[: len(before[ws])] == before[ws]
            assert len(after) <= len(before[ws]) + 1

    def _mark_stale(self, ws: str) -> None:
        run = self.manager.current_run(ws)
        if run is not None:
            self.stale_requests[ws].add(run.request_id)

    # ---- invariants -----------------------------------------------------------------------
    @invariant()
    def one_stream_per_workspace(self) -> None:
        open_: dict[str, int] = {}
        for e in self.events:
            if e.type == ev.STREAM_STARTED:
                open_[e.workspace] = open_.get(e.workspace, 0) + 1
                assert open_[e.workspace] == 1, f"two streams at once in {e.workspace}"
            elif e.type in ev.STREAM_CLOSED:
                open_[e.workspace] = open_.get(e.workspace, 0) - 1
                assert open_[e.workspace] == 0

    @invariant()
    def histories_valid_and_nothing_lost(self) -> None:
        for ws in self.ids:
            w = self.manager._workspaces[ws]
            if not w.opened:
                continue
            msgs = w.messages
            seqs = [m["seq"] for m in msgs]
            assert seqs == sorted(set(seqs))
            assert len({m["id"] for m in msgs}) == len(msgs)
            if msgs:
                assert msgs[0]["role"] == "user"
            for m in msgs:
                if m["role"] == "assistant":
                    assert m["status"] in ("complete", "interrupted", "error")
                    if m["status"] == "error":
                        assert m["error_type"]
            # Memory equals a fresh read of the disk. A streaming workspace may have one append
            # done in its thread that memory has not seen yet, so there memory is a prefix.
            disk = [m["id"] for m in w.store.load_history().messages]
            mem = [m["id"] for m in msgs]
            if w.streaming:
                assert disk[: len(mem)] == mem and len(disk) - len(mem) <= 1
            else:
                assert disk == mem
            # Every sent text is in exactly one place.
            in_history = [t for m in msgs if m["role"] == "user" for t in m["content"].split("\n\n")]
            in_queue = [q["text"] for q in w.queue]
            places = in_history + in_queue + self.handed_back[ws] + self.truncated[ws]
            assert sorted(places) == sorted(self.sent[ws]), (places, self.sent[ws])
            # Queue order is send order.
            order = {t: i for i, t in enumerate(self.sent[ws])}
            assert [order[t] for t in in_queue] == sorted(order[t] for t in in_queue)
            # Stale streams never wrote after the last truncation.
            lines = [json.loads(x) for x in w.store.chat.read_text().splitlines()] if w.store.chat.exists() else []
            marks = [i for i, r in enumerate(lines) if r.get("kind") == "truncate"]
            if marks:
                after = lines[marks[-1]:]
                assert not any(r.get("request_id") in self.stale_requests[ws] for r in after)


TestEngineStateful = EngineMachine.TestCase
TestEngineStateful.settings = settings(
    max_examples=60 if FULL else 12,
    stateful_step_count=40 if FULL else 14,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


def teardown_module() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
