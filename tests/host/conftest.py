"""Engine-host fixtures: the temp MUXTUI_HOME of tests/conftest.py, engines started as real
detached processes (the way a client starts one), and an event mirror that applies what a client
receives the way an app would, to compare with the history on disk."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest

from muxtui import config as config_mod
from muxtui.host.remote import RemoteEngine, Snapshot
from muxtui.host.server import registration_of
from muxtui.paths import Paths
from tests.helpers.processes import stop


@pytest.fixture
def host_home(home) -> Paths:
    """The temp MUXTUI_HOME of tests/conftest.py: each test's engine runs in its own."""
    return home


def set_engine_config(paths: Paths, text: str) -> None:
    with open(paths.config_file, "a") as f:
        f.write("\n[engine]\n" + text + "\n")


@pytest.fixture
async def engines(host_home):
    """Clients of engines in host_home; every engine they started is stopped at the end."""
    clients: list[RemoteEngine] = []
    pids: set[int] = set()

    async def connect(**kwargs: Any) -> RemoteEngine:
        remote = RemoteEngine(host_home, **kwargs)
        await remote.start()
        clients.append(remote)
        pids.add(remote.engine_info["pid"])
        return remote

    connect.pids = pids  # type: ignore[attr-defined]
    yield connect
    for remote in clients:
        with contextlib.suppress(Exception):
            await remote.close()
    reg = registration_of(host_home)
    if reg:
        pids.add(reg["pid"])
    for pid in pids:
        stop(pid)


class Mirror:
    """What an app would show, built only from the events and snapshots a client received."""

    def __init__(self) -> None:
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.live: dict[str, dict[str, str]] = {}  # request_id -> {"text", "reasoning"}
        self.closed: dict[str, dict[str, Any]] = {}  # request_id -> close event
        self.seqs: list[int] = []
        self.snapshots = 0
        self.created: list[str] = []  # workspace ids, from workspace.created events
        self._waiters: list[tuple[Any, asyncio.Future]] = []

    def __call__(self, event: Any) -> None:
        if isinstance(event, Snapshot):
            self.apply_snapshot(event)
        else:
            self.apply(event.to_dict())
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(self):
                fut.set_result(None)

    def apply_snapshot(self, snap: Snapshot) -> None:
        self.snapshots += 1
        self.seqs.append(snap.seq)
        self.messages = {w["info"]["id"]: [dict(m) for m in w["messages"]] for w in snap.data["workspaces"]}
        self.live = {}
        for w in snap.data["workspaces"]:
            if w["live"]:
                self.live[w["live"]["request_id"]] = {"text": w["live"]["text"], "reasoning": w["live"]["reasoning"]}

    def apply(self, d: dict[str, Any]) -> None:
        self.seqs.append(d["seq"])
        ws, kind = d["workspace"], d["type"]
        if kind == "workspace.created":
            self.created.append(ws)
            self.messages.setdefault(ws, [])
        elif kind == "message.added":
            self.messages.setdefault(ws, []).append(d["message"])
        elif kind == "stream.started":
            self.live[d["request_id"]] = {"text": "", "reasoning": ""}
        elif kind == "stream.delta":
            live = self.live.setdefault(d["request_id"], {"text": "", "reasoning": ""})
            live["text"] += d.get("text", "")
            live["reasoning"] += d.get("reasoning", "")
        elif kind in ("stream.complete", "stream.interrupted", "stream.error"):
            self.closed[d["request_id"]] = d
            if d.get("message"):
                self.messages.setdefault(ws, []).append(d["message"])
        elif kind == "workspace.recovered":
            self.messages.setdefault(ws, []).append(d["message"])

    async def wait(self, pred, timeout: float = 30) -> None:
        if pred(self):
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        await asyncio.wait_for(fut, timeout)


class LinkLog(list):
    """RemoteEngine.on_link states, awaitable."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Event()

    def __call__(self, state: str) -> None:
        self.append(state)
        self._changed.set()

    async def wait_for(self, state: str, count: int = 1, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while self.count(state) < count:
                self._changed.clear()
                await self._changed.wait()


async def wait_file(path: Path, timeout: float = 10) -> None:
    """Until another process has written `path`. No event crosses processes for this, so a
    bounded poll; the test fails if it never comes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (path.exists() and path.stat().st_size > 0):
        if loop.time() > deadline:
            raise TimeoutError(f"{path} was not written within {timeout} s")
        await asyncio.sleep(0.02)


def load_config(paths: Paths):
    return config_mod.load(paths.config_file)
