"""The bridge from engine events to the screen: the app's one subscriber.

The engine calls ``on_event`` synchronously for every event. Deltas of the workspace on screen go
into a ``DeltaBuffer`` (flushed at most once a frame); every event updates the sidebar's badge
tracker at once; everything else is queued and applied in order by one worker (``pump``), so the
chat pane never interleaves two updates.

The UI holds no engine object: the workspace on screen is a ``WorkspaceView``, a client-side
copy made from the engine's ``WorkspaceSnapshot`` (stamped with the ``seq`` it reflects) and kept
current by the events after that ``seq``. Deltas carry their ``seq`` too, so the reply text a
snapshot already holds is never appended twice and nothing after it is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from muxtui.client import LiveReply, WorkspaceInfo, WorkspaceSnapshot, events as ev, info_from_dict
from muxtui.client import Event

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp

log = logging.getLogger("muxtui.ui")

FRAME = 1 / 30  # delta flushes per second, at most


@dataclass
class DeltaBuffer:
    """Deltas of the current workspace's reply not yet on screen, with the seq of the last."""

    request_id: str | None = None
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)  # one per entry of text / reasoning, in order

    def clear(self, request_id: str | None = None) -> None:
        self.request_id = request_id
        self.text.clear()
        self.reasoning.clear()
        self.seqs.clear()

    def add(self, event: ev.StreamDelta) -> None:
        if self.request_id != event.request_id:
            self.clear(event.request_id)
        self.text.append(event.text)
        self.reasoning.append(event.reasoning)
        self.seqs.append(event.seq)

    def drop_through(self, seq: int) -> None:
        """A snapshot at ``seq`` holds these already."""
        keep = next((n for n, s in enumerate(self.seqs) if s > seq), len(self.seqs))
        if keep:
            del self.text[:keep], self.reasoning[:keep], self.seqs[:keep]

    def take(self) -> tuple[str, str]:
        text, reasoning = "".join(self.text), "".join(self.reasoning)
        self.text.clear()
        self.reasoning.clear()
        self.seqs.clear()
        return text, reasoning

    def __bool__(self) -> bool:
        return bool(self.seqs)


class WorkspaceView:
    """The workspace on screen, as this client knows it: a snapshot plus the events after it."""

    def __init__(self, snapshot: WorkspaceSnapshot) -> None:
        self.id = snapshot.info.id
        self.info: WorkspaceInfo = snapshot.info
        self.messages: list[dict[str, Any]] = list(snapshot.messages)
        self.queue: list[dict[str, Any]] = list(snapshot.queue)
        self.settings: dict[str, Any] = dict(snapshot.settings)
        self.live: LiveReply | None = snapshot.live
        self.seq = snapshot.seq  # events up to here are in the snapshot
        self.warnings = list(snapshot.warnings)

    def apply(self, event: Event) -> None:
        """Fold one event of this workspace (with seq > self.seq) into the copy."""
        if event.seq <= self.seq:
            return
        self.seq = event.seq
        match event:
            case ev.MessageAdded(message=m) | ev.WorkspaceRecovered(message=m):
                self._put(m)
            case ev.StreamStarted(request_id=rid, message_id=mid, model=model):
                self.live = LiveReply(rid, mid, model)
            case ev.StreamClosed(message=m, stale=stale):
                self.live = None
                if not stale:
                    self._put(m)
            case ev.MessageSaved(message=m):
                self._put(m)
            case ev.QueueChanged(items=items):
                self.queue = list(items)
            case ev.HistoryTruncated(from_seq=from_seq):
                self.messages = [m for m in self.messages if m.get("seq", from_seq) < from_seq]
            case ev.WorkspaceUpdated(info=info):
                self.info = info_from_dict(info)  # settings: the bridge asks for the effective ones

    def _put(self, message: dict[str, Any]) -> None:
        mid = message.get("id")
        for n in range(len(self.messages) - 1, max(-1, len(self.messages) - 50), -1):
            if self.messages[n].get("id") == mid:
                self.messages[n] = message
                return
        self.messages.append(message)

    @property
    def streaming(self) -> bool:
        return self.live is not None


class EngineBridge:
    """Engine events in, screen updates out (see the module docstring)."""

    def __init__(self, app: "MuxApp") -> None:
        self.app = app
        self.buffer = DeltaBuffer()
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.view: WorkspaceView | None = None

    # ---- called by the engine, synchronously: keep it cheap ---------------------------------
    def on_event(self, event: Event) -> None:
        app = self.app
        if type(event) is ev.StreamDelta:
            ws_id = event.workspace
            app.tracker.on_delta(ws_id)
            view = self.view
            if ws_id == app.current_id and not (view is not None and view.id == ws_id and event.seq <= view.seq):
                self.buffer.add(event)  # (a delta the snapshot on screen holds already is dropped)
                self.resume_frame()
            return
        app.tracker.handle(event)
        self.events.put_nowait(event)

    def resume_frame(self) -> None:
        timer = self.app._frame_timer
        if timer is not None and self.buffer:
            timer.resume()

    def flush_deltas(self) -> None:
        app = self.app
        buf = self.buffer
        chat = app.chat
        live = chat.live
        if (not buf or live is None or live.request_id != buf.request_id or not live.is_mounted
                or chat.workspace_id != app.current_id):
            # nothing to show, or no live widget yet (start_live/show resume the frame when it is)
            if app._frame_timer is not None:
                app._frame_timer.pause()
            return
        live.append(*buf.take())

    # ---- applied in order by one worker ----------------------------------------------------
    async def pump(self) -> None:
        while True:
            event = await self.events.get()
            try:
                await self.apply(event)
            except Exception as exc:  # the pane must keep following the engine whatever happens
                log.exception("applying %s failed", event.type)
                self.app.notify(f"display error on {event.type}: {exc}", severity="error", markup=False)
            finally:
                self.events.task_done()

    async def drain(self) -> None:
        """Wait until every engine event so far is on screen (and buffered deltas flushed)."""
        await self.events.join()
        self.flush_deltas()

    async def apply(self, event: Event) -> None:
        app = self.app
        ws_id = event.workspace
        view = self.view
        current = ws_id == app.current_id and view is not None and view.id == ws_id
        if current and event.seq <= view.seq:
            return  # the snapshot on screen has it already
        if current:
            view.apply(event)
        chat = app.chat
        match event:
            case ev.MessageAdded(message=m) | ev.WorkspaceRecovered(message=m):
                if current:
                    await chat.post(ws_id, m)
            case ev.StreamStarted(request_id=rid, model=model):
                if current:
                    await chat.start_live(ws_id, rid, model)
            case ev.StreamClosed(request_id=rid, message=m):
                if current:
                    if self.buffer.request_id == rid:
                        self.buffer.clear()
                    await chat.close_live(ws_id, rid, m)
                    app._update_title()  # the usage total counts the new reply
            case ev.StreamRetrying(request_id=rid, delay=delay, attempt=attempt, error_type=error_type):
                chat.notice(ws_id, rid, f"retrying in {delay:g} s (attempt {attempt}): {error_type}")
            case ev.StreamFallback(request_id=rid, to_model=to_model, error_type=error_type):
                chat.notice(ws_id, rid, f"falling back to {to_model} after {error_type}")
            case ev.QueueChanged(items=items):
                if current:
                    await chat.set_queue(ws_id, list(items))
            case ev.HistoryTruncated() | ev.HistoryReloaded():
                if current:
                    await self.show(ws_id)
            case ev.WorkspaceDeleted():
                await app.workspace_deleted(ws_id, current=ws_id == app.current_id)
            case ev.EngineWarning(text=text):
                app.notify(text, severity="warning", markup=False)
            case ev.MessageSaved():  # a reply the disk refused is written now: badge and label follow
                if current:
                    await self.show(ws_id)
                else:
                    with contextlib.suppress(KeyError):
                        peek = await app.engine.peek_workspace(ws_id)
                        app.tracker.seed(ws_id, [peek["last"]] if peek["last"] else [], peek["queue"],
                                         peek["streaming"])
            case ev.WorkspaceUpdated(settings=settings):
                if current:
                    if settings is not None:
                        with contextlib.suppress(KeyError):
                            view.settings = await app.engine.get_settings(ws_id)
                    app._update_title()

    async def show(self, ws_id: str) -> None:
        """Put a workspace on screen from a fresh snapshot."""
        app = self.app
        try:
            snapshot = await app.engine.open_workspace(ws_id)
        except KeyError:
            return
        if ws_id != app.current_id:
            return
        view = self.view = WorkspaceView(snapshot)
        app.tracker.seed(ws_id, view.messages, view.queue, view.streaming)
        if view.live is not None and self.buffer.request_id == view.live.request_id:
            self.buffer.drop_through(snapshot.seq)
        elif view.live is None or self.buffer.request_id != view.live.request_id:
            self.buffer.clear(view.live.request_id if view.live else None)
        await app.chat.show(ws_id, view)
        app._update_title()
