"""Engine fixtures: a StreamManager on the temp MUXTUI_HOME (tests/conftest.py `home`), and a
Recorder that lets a test await the engine's events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from muxtui import config as config_mod
from muxtui.engine import events as ev
from muxtui.engine.logs import EventLog, Redactor
from muxtui.engine.manager import StreamManager
from muxtui.engine.storage import Storage
from tests.helpers.home import TEST_KEY


class Recorder:
    """Collects engine events and lets a test await one without sleeping."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self._waiters: list[tuple[Callable[[ev.Event], bool], asyncio.Future]] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(event):
                fut.set_result(event)

    async def wait_for(self, pred: Callable[[ev.Event], bool], timeout: float = 10) -> ev.Event:
        for e in self.events:
            if pred(e):
                return e
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        return await asyncio.wait_for(fut, timeout)

    def types(self, ws: str | None = None) -> list[str]:
        return [e.type for e in self.events if ws is None or e.workspace == ws]

    def of(self, type_: str) -> list[ev.Event]:
        return [e for e in self.events if e.type == type_]


@pytest.fixture
def make_manager(home):
    managers: list[StreamManager] = []

    def make(**cfg_changes) -> tuple[StreamManager, Recorder]:
        cfg = config_mod.load(home.config_file)
        for key, value in cfg_changes.items():
            if hasattr(cfg.stream, key):
                setattr(cfg.stream, key, value)
            else:
                setattr(cfg, key, value)
        manager = StreamManager(cfg, Storage(home.data_dir), EventLog(home.log_dir, Redactor([TEST_KEY])))
        rec = Recorder()
        manager.subscribe(rec)
        managers.append(manager)
        return manager, rec

    yield make
    for m in managers:
        for ws in list(m._workspaces.values()):
            if ws.task is not None and not ws.task.done():
                ws.task.cancel()
        for ws in m._workspaces.values():
            ws.store.unlock_stream()


def closed(ws_id: str | None = None, request_id: str | None = None):
    def pred(e: ev.Event) -> bool:
        return (
            e.type in ev.STREAM_CLOSED
            and (ws_id is None or e.workspace == ws_id)
            and (request_id is None or e.data.get("request_id") == request_id)
        )

    return pred
