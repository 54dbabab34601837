"""Engine-level helpers: awaiting the engine's events without sleeping, unique fake-server
gates, and the history file as written."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

from muxtui.engine import events as ev


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


def closed(ws_id: str | None = None, request_id: str | None = None):
    def pred(e: ev.Event) -> bool:
        return (
            e.type in ev.STREAM_CLOSED
            and (ws_id is None or e.workspace == ws_id)
            and (request_id is None or e.data.get("request_id") == request_id)
        )

    return pred


def gate() -> str:
    """A fake-server gate name of this test's own."""
    return f"g{uuid.uuid4().hex[:8]}"


def chat_lines(ws) -> list[dict]:
    """The records of the workspace's chat.jsonl as they are on disk."""
    return [json.loads(line) for line in ws.store.chat.read_text().splitlines() if line.strip()]
