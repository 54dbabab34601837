"""Driving MuxApp under Textual's pilot against the fake server (real HTTP, real engine).

Synchronisation is on engine state and events, the app's event queue (app.drain) and
pilot.pause(); never on sleeps. Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import time

from muxtui import config as config_mod
from muxtui.paths import Paths
from muxtui.ui.textual_private import screen_strips

FIXED_NOW = 1_767_225_600.0  # 2026-01-01 00:00 UTC: snapshots never see the real clock
SIZE = (100, 30)


def make_app(paths: Paths, *, clock=lambda: FIXED_NOW, animate: bool = False, engine=None):
    from muxtui.ui.app import MuxApp

    return MuxApp(paths, config_mod.load_or_default(paths.config_file), clock=clock, animate=animate, engine=engine)


def screen_text(app) -> str:
    """What the terminal shows right now, as plain text."""
    return "\n".join(strip.text for strip in screen_strips(app.screen))


async def settle(app, pilot) -> None:
    """Every engine event applied to the screen, and the screen refreshed."""
    await app.drain()
    await pilot.pause()


async def start(app, pilot) -> str:
    """Once the app has started: the id of the workspace it shows."""
    await app.started.wait()
    await pilot.pause()
    return app.current_id


async def until(pilot, predicate, what: str = "condition", timeout: float = 30, every: float | None = None) -> None:
    """Let the app run until `predicate()` holds: each turn waits for the app to go idle (after
    `every` seconds, where the change comes from another process)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(every)


async def send(pilot, app, text: str) -> None:
    """Type `text` in the composer and press enter; return once the engine accepted it."""
    from muxtui.ui.composer import Composer

    ws_id = app.current_id
    accepted = asyncio.Event()

    def on_event(event) -> None:
        if event.workspace == ws_id and event.type in ("message.added", "queue.changed"):
            accepted.set()

    unsubscribe = app.engine.manager.subscribe(on_event)
    try:
        app.query_one(Composer).load_text(text)
        await pilot.press("enter")
        await asyncio.wait_for(accepted.wait(), 30)
    finally:
        unsubscribe()


async def use_model(app, pilot, model: str) -> None:
    await app.engine.manager.set_model(app.current_id, model)
    await app.drain()


def ws_messages(app, ws_id: str | None = None) -> list[dict]:
    return app.engine.manager.workspace(ws_id or app.current_id).messages
