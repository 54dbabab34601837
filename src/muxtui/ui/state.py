"""The one source of truth for sidebar badges: a tracker fed by engine events.

Every workspace has a small immutable ``WorkspaceState`` (streaming, queued count, error,
interrupted/resumable, unread, rate-limit countdown). The tracker folds engine events into it and
publishes the new state on a Textual ``Signal`` only when it actually changed, so a sidebar row
re-renders when its badge changes and never per token. The countdown (``retry_in``) changes once
a second, when the app's one countdown timer calls ``tick_retries``; that timer runs only while
some workspace waits for its ``retry_at``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Iterable

from textual.dom import DOMNode
from textual.signal import Signal

from muxtui.client import Event, events as ev


@dataclass(frozen=True, slots=True)
class WorkspaceState:
    id: str
    name: str
    model: str
    streaming: bool = False
    queued: int = 0
    error_type: str | None = None  # the last reply failed; stays until another reply ends or dismissed
    interrupted: bool = False  # the last reply was cut short: ctrl+r resumes it
    recovered: bool = False  # ... by a crash, found and committed at start-up
    unread: bool = False  # activity since the user last looked at this workspace
    deleted: bool = False
    retry_at: float | None = None  # the provider asked to wait until then (a long Retry-After)
    retry_in: int | None = None  # whole seconds left until retry_at, for the countdown badge


def short_model(model: str) -> str:
    """'openai:gpt-4o' -> 'gpt-4o'; what fits in a sidebar row."""
    return model.partition(":")[2] or model


class WorkspaceTracker:
    """Badge state of every workspace, in sidebar order."""

    def __init__(self, owner: DOMNode) -> None:
        self.changed: Signal[WorkspaceState] = Signal(owner, "workspace-state")
        self._states: dict[str, WorkspaceState] = {}
        # Kept with the states, so "is anything streaming / counting down" is O(1): the app asks
        # on every state change, and start-up adds every workspace (O(n^2) with 1,000 of them).
        self._streaming: set[str] = set()
        self._counting: set[str] = set()
        self.current: str | None = None
        self.clock = time.time  # the app's clock (tests fake it)

    # ---- reading ----------------------------------------------------------------------
    def __contains__(self, ws_id: object) -> bool:
        return ws_id in self._states

    def get(self, ws_id: str | None) -> WorkspaceState | None:
        return self._states.get(ws_id) if ws_id else None

    def states(self) -> list[WorkspaceState]:
        return list(self._states.values())

    def ids(self) -> list[str]:
        return list(self._states)

    @property
    def any_streaming(self) -> bool:
        return bool(self._streaming)

    @property
    def any_countdown(self) -> bool:
        return bool(self._counting)

    # ---- writing ----------------------------------------------------------------------
    def _store(self, state: WorkspaceState) -> None:
        self._states[state.id] = state
        (self._streaming.add if state.streaming else self._streaming.discard)(state.id)
        (self._counting.add if state.retry_at is not None else self._counting.discard)(state.id)

    def _set(self, ws_id: str, **changes: Any) -> None:
        old = self._states.get(ws_id)
        if old is None:
            return
        if "retry_at" in changes:
            changes.update(self._countdown(changes["retry_at"]))
        new = replace(old, **changes)
        if new != old:
            self._store(new)
            self.changed.publish(new)

    def add(self, info: Any) -> None:
        """A workspace appeared (start-up or created); appended in stable order."""
        if info.id in self._states:
            self._set(info.id, name=info.name, model=info.model)
            return
        state = WorkspaceState(info.id, info.name, info.model)
        self._store(state)
        self.changed.publish(state)

    def add_all(self, infos: Iterable[Any]) -> None:
        """Workspaces listed at start-up, added without a signal each (1,000 workspaces were
        2,000 queued callbacks before the first frame): the app then has the sidebar read
        them all at once (``Sidebar.sync_states``)."""
        for info in infos:
            if info.id in self._states:
                self._set(info.id, name=info.name, model=info.model)
            else:
                self._store(WorkspaceState(info.id, info.name, info.model))

    def seed(self, ws_id: str, messages: Iterable[dict], queue: list, streaming: bool) -> None:
        """Badges implied by a workspace's history once it has been loaded."""
        last = None
        for m in reversed(list(messages)):
            if m.get("role") == "assistant":
                last = m
                break
        status = last.get("status") if last else None
        self._set(
            ws_id,
            streaming=streaming,
            queued=len(queue),
            error_type=(last.get("error_type") or "error") if status == "error" else None,
            retry_at=last.get("retry_at") if status == "error" else None,
            interrupted=status == "interrupted",
            recovered=bool(status == "interrupted" and last.get("recovered")),
        )

    def _countdown(self, retry_at: Any) -> dict[str, Any]:
        if not isinstance(retry_at, (int, float)) or isinstance(retry_at, bool):
            return {"retry_at": None, "retry_in": None}
        left = retry_at - self.clock()
        if left <= 0:
            return {"retry_at": None, "retry_in": None}
        return {"retry_at": float(retry_at), "retry_in": int(-(-left // 1))}

    def tick_retries(self) -> None:
        """Advance every countdown to the clock (called once a second while any runs)."""
        for state in list(self._states.values()):
            if state.retry_at is not None:
                self._set(state.id, retry_at=state.retry_at)

    def set_current(self, ws_id: str | None) -> None:
        self.current = ws_id
        if ws_id:
            self._set(ws_id, unread=False)

    def dismiss_error(self, ws_id: str) -> None:
        self._set(ws_id, error_type=None, retry_at=None)

    def on_delta(self, ws_id: str) -> None:
        """Called for every token: O(1) and publishes at most once (the unread flag)."""
        if ws_id != self.current:
            state = self._states.get(ws_id)
            if state is not None and not state.unread:
                self._set(ws_id, unread=True)

    def forget(self, ws_id: str) -> None:
        """The workspace is gone (deleted here, or its folder by another process)."""
        state = self._states.pop(ws_id, None)
        self._streaming.discard(ws_id)
        self._counting.discard(ws_id)
        if state is not None:
            self.changed.publish(replace(state, deleted=True, streaming=False))

    def handle(self, event: Event) -> None:
        ws_id = event.workspace
        unread = {"unread": True} if ws_id != self.current else {}
        match event:
            case ev.WorkspaceCreated(info=info) | ev.WorkspaceUpdated(info=info):
                if ws_id in self._states:
                    self._set(ws_id, name=info.get("name", ""), model=info.get("model", ""))
                else:
                    state = WorkspaceState(ws_id, info.get("name", ""), info.get("model", ""))
                    self._store(state)
                    self.changed.publish(state)
            case ev.WorkspaceDeleted():
                self.forget(ws_id)
            case ev.WorkspaceRecovered():
                self._set(ws_id, interrupted=True, recovered=True, unread=ws_id != self.current)
            case ev.QueueChanged(items=items):
                self._set(ws_id, queued=len(items or ()))
            case ev.StreamStarted():
                self._set(ws_id, streaming=True, interrupted=False, recovered=False, retry_at=None)
            case ev.MessageAdded():
                self._set(ws_id, **unread)
            case ev.StreamComplete():
                self._set(ws_id, streaming=False, error_type=None, interrupted=False, recovered=False,
                          retry_at=None, **unread)
            case ev.StreamInterrupted():
                # The interrupted reply is now the last one: an earlier turn's error no longer
                # describes the workspace (and `seed`, which reads the last reply, agrees).
                self._set(ws_id, streaming=False, interrupted=True, error_type=None, **unread)
            case ev.StreamError(message=message):
                self._set(ws_id, streaming=False, interrupted=False, retry_at=message.get("retry_at"),
                          error_type=message.get("error_type") or "error", **unread)
            case ev.HistoryTruncated():
                # retry/resume: the failed or cut reply is gone; a new turn is starting
                self._set(ws_id, interrupted=False, recovered=False, retry_at=None)
