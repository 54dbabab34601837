"""What the disk holds coming back into memory, and what memory holds going back to disk.

Owns ``Recovery``: opening a workspace (history, queue, settings), committing a leftover
partial reply as ``interrupted`` unless a live process holds the workspace's stream lock
(contract point 9), dropping queue items a crash left after they were sent (point 7), and
re-reading a workspace another process wrote meanwhile. And ``Saver`` (point 10): replies and
log records the disk refused stay in memory and are written by a loop with bounded backoff,
before anything new starts in that workspace, and once more (bounded) at shutdown.

The contract's numbers are those of muxtui.engine.manager's docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import MutableMapping
from typing import Any

from muxtui.engine import events as ev
from muxtui.engine import settings as settings_mod
from muxtui.engine.logs import EventLog
from muxtui.engine.runs import Emit, Workspace, provider_of, why
from muxtui.engine.storage import FORMAT_VERSION, Storage, StorageError, WorkspaceStore, as_float, new_id, now

log = logging.getLogger("muxtui.manager")


class Recovery:
    """Loads workspaces from disk into memory; emits what it found (recovered, warnings)."""

    def __init__(self, emit: Emit, saves: Saver):
        self._emit = emit
        self._saves = saves

    async def open(self, ws: Workspace) -> Workspace:
        """Load history and queue; commit a leftover partial as interrupted (point 9)."""
        ws_id = ws.info.id
        if ws.opened:
            return ws
        async with ws.io:
            if ws.opened:
                return ws
            recovered, history, queue, warnings = await asyncio.to_thread(self.load, ws)
            settings, settings_warnings = await asyncio.to_thread(ws.store.read_settings)
            ws.settings = self._valid_settings(settings, ws, settings_warnings)
            warnings = warnings + settings_warnings
            ws.messages = history
            ws.queue = queue
            ws.warnings = warnings
            ws.opened = True
        if recovered is not None:
            self._emit(ev.WORKSPACE_RECOVERED, ws_id, message=recovered)
            self._saves.record_close(
                {"ts": now(), "request_id": recovered.get("request_id"), "workspace": ws_id,
                 "model": recovered.get("model"), "provider": provider_of(recovered.get("model")),
                 "close_kind": "crash_recovered", "error_type": None, "events": None,
                 "bytes": len(recovered.get("content", "").encode()), "upstream_status": None,
                 "duration": None, "attempt": None}
            )
        for w in warnings:
            self._emit(ev.WARNING, ws_id, text=w)
        return ws

    @staticmethod
    def _valid_settings(raw: dict[str, Any], ws: Workspace, warnings: list[str]) -> dict[str, Any]:
        try:
            return settings_mod.validate(raw, f"{ws.store.settings_file}")
        except ValueError as exc:  # hand-edited: say so, send nothing odd
            warnings.append(f"{exc}; using the defaults")
            return {}

    def load(self, ws: Workspace) -> tuple[dict | None, list[dict], list[dict], list[str]]:
        store = ws.store
        warnings: list[str] = []
        recovered = None
        if store.partial.exists() and not ws.streaming:
            held = store._stream_fd is not None  # we are about to stream here: keep our claim
            if held or store.try_lock_stream():
                try:
                    recovered = self._recover_partial(store, warnings)
                finally:
                    if not held:
                        store.unlock_stream()
            else:
                warnings.append(
                    f"workspace '{ws.info.name}' is streaming in another muxtui process "
                    f"(pid {store.stream_lock_holder()}); its reply will appear when it finishes"
                )
        history = store.load_history()
        warnings.extend(history.warnings)
        queue, qwarn = store.load_queue()
        warnings.extend(qwarn)
        # A crash between committing a merged queue message and clearing queue.json: drop the
        # items already sent, so nothing is sent twice.
        sent = {qid for m in history.messages[-3:] for qid in m.get("queue_ids") or ()}
        if sent and any(q["id"] in sent for q in queue):
            queue = [q for q in queue if q["id"] not in sent]
            store.save_queue(queue)
        return recovered, history.messages, queue, warnings

    @staticmethod
    def _recover_partial(store: WorkspaceStore, warnings: list[str]) -> dict | None:
        partial = store.read_partial()
        if partial is None:
            return None
        if "damaged" in partial:
            warnings.append(f"a damaged partial reply was kept as {partial['damaged']}")
            return None
        history = store.load_history()
        if any(m.get("id") == partial.get("message_id") for m in history.messages):
            store.clear_partial()  # committed just before the crash; the partial is a leftover
            return None
        message = {
            "id": partial.get("message_id") or new_id("m"),
            "role": "assistant",
            "content": partial.get("content") if isinstance(partial.get("content"), str) else "",
            "created_at": as_float(partial.get("created_at"), now()),
            "model": partial.get("model"),
            "status": "interrupted",
            "recovered": True,
            "request_id": partial.get("request_id"),
        }
        if isinstance(partial.get("reasoning"), str) and partial["reasoning"]:
            message["reasoning"] = partial["reasoning"]
        if isinstance(partial.get("usage"), dict):
            message["usage"] = partial["usage"]
        for key, kind in (("refusal", str), ("tool_calls", list), ("citations", list)):
            if isinstance(partial.get(key), kind) and partial[key]:
                message[key] = partial[key]
        committed = store.append(message)
        store.clear_partial()
        return committed

    async def sync(self, ws: Workspace) -> bool:
        """Re-read `ws` if another process wrote it since we loaded it; the caller holds ws.io."""
        changed, meta = await asyncio.to_thread(self._disk_changed, ws)
        if meta:
            name, model = meta.get("name"), meta.get("model")
            if (isinstance(name, str) and name != ws.info.name) or (isinstance(model, str) and model != ws.info.model):
                ws.info.name = name if isinstance(name, str) else ws.info.name
                ws.info.model = model if isinstance(model, str) else ws.info.model
                self._emit(ev.WORKSPACE_UPDATED, ws.info.id, info=ws.info.to_dict())
        if not changed:
            return False
        recovered, history, queue, warnings = await asyncio.to_thread(self.load, ws)
        ws.messages, ws.queue = history, queue
        if recovered is not None:
            self._emit(ev.WORKSPACE_RECOVERED, ws.info.id, message=recovered)
        self._emit(ev.HISTORY_RELOADED, ws.info.id, count=len(history))
        self._emit(ev.QUEUE_CHANGED, ws.info.id, items=list(queue))
        return True

    @staticmethod
    def _disk_changed(ws: Workspace) -> tuple[bool, dict | None]:
        try:
            size = ws.store.chat.stat().st_size
        except FileNotFoundError:
            size = 0
        known = ws.store._known_size
        changed = (known >= 0 and size != known) or ws.store.partial.exists()
        if not changed:
            queue, _ = ws.store.load_queue()
            changed = [q["id"] for q in queue] != [q["id"] for q in ws.queue]
        return changed, ws.store.read_meta()


class Saver:
    """Replies and log records the disk refused, and the loop that writes them (point 10).

    The loop retries after `first` s, doubling up to `longest` s, for at most `rounds` rounds;
    after that, at the next send and at quit."""

    def __init__(self, workspaces: MutableMapping[str, Workspace], storage: Storage, event_log: EventLog,
                 emit: Emit, *, first: float, longest: float, rounds: int):
        self._workspaces = workspaces
        self.storage = storage
        self.log = event_log
        self._emit = emit
        self.first = first
        self.longest = longest
        self.rounds = rounds
        self._task: asyncio.Task | None = None
        # Workspaces whose late save is under way: their reply is on disk, but its bookkeeping and
        # MESSAGE_SAVED are not done yet, so it still counts as unsaved (see save_unsaved).
        self._saving: set[str] = set()

    def record_close(self, record: dict[str, Any]) -> None:
        """Audit one close; a record the disk refuses is held by the log and the save loop
        writes it once there is room."""
        if not self.log.record_close(record):
            with contextlib.suppress(RuntimeError):  # no running loop: the next append retries it
                self.ensure()

    async def save_unsaved(self, ws: Workspace) -> None:
        """A reply whose commit failed (disk full) is saved before anything else may overwrite
        its partial; if the disk still refuses, nothing new starts. A call made while another
        save of this workspace is under way (the save loop, and `muxtui send` waiting for the disk)
        waits for it, so it returns after that save's MESSAGE_SAVED: before, it saw nothing pending
        mid-save and `send` reported a saved reply as lost."""
        if not ws.pending and ws.info.id not in self._saving:
            return
        async with ws.io:
            if not ws.pending:
                return
            self._saving.add(ws.info.id)
            try:
                await self._save_pending(ws)
            finally:
                self._saving.discard(ws.info.id)

    async def _save_pending(self, ws: Workspace) -> None:
        """save_unsaved's work, under ws.io."""
        for mid, record in list(ws.pending.items()):
            try:
                committed = await asyncio.to_thread(self._commit_pending, ws.store, record)
            except Exception as exc:
                raise StorageError(f"cannot save the previous reply ({why(exc)}): free some disk space; "
                                   "it is saved as soon as the disk has room, and the text is still on "
                                   "screen") from None
            # Memory changes only now, after the partial is gone too: a start that sees
            # nothing pending may write a new partial at once.
            del ws.pending[mid]
            for i, m in enumerate(ws.messages):
                if m.get("id") == mid:
                    ws.messages[i] = committed
                    break
            try:  # bookkeeping only: the message is durable
                info = await asyncio.to_thread(
                    self.storage.update_workspace, ws.info.id, last_activity=now(),
                    last_status=committed.get("status"), last_error_type=committed.get("error_type"))
                ws.info.last_activity = info.last_activity
                ws.info.last_status = info.last_status
                ws.info.last_error_type = info.last_error_type
            except Exception:
                log.exception("updating the registry after a late save failed")
            self.record_close({
                "ts": now(), "request_id": committed.get("request_id"), "workspace": ws.info.id,
                "model": committed.get("model"), "provider": provider_of(committed.get("model")),
                "close_kind": "written_after_retry", "error_type": committed.get("error_type"),
                "status": committed.get("status"), "seq": committed.get("seq"),
                "chars": len(committed.get("content") or ""), "format": FORMAT_VERSION,
            })
            self._emit(ev.MESSAGE_SAVED, ws.info.id, message=committed)

    @staticmethod
    def _commit_pending(store: WorkspaceStore, record: dict[str, Any]) -> dict[str, Any]:
        committed = store.append({k: v for k, v in record.items() if k not in ("unsaved", "seq")})
        partial = store.read_partial()
        if partial is not None and partial.get("request_id") in (None, record.get("request_id")):
            store.clear_partial()
        return committed

    def has_unsaved(self) -> bool:
        return (bool(self.log.pending) or bool(self._saving)
                or any(ws.pending for ws in self._workspaces.values()))

    def unsaved(self) -> list[dict[str, Any]]:
        return [{**rec, "workspace": ws.info.id} for ws in self._workspaces.values() for rec in ws.pending.values()]

    def ensure(self) -> None:
        """Start the save loop unless it runs (needs a running event loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="save-retry")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task})

    async def _loop(self) -> None:
        delay = self.first
        for _ in range(self.rounds):
            await asyncio.sleep(delay)  # backoff: no event says "the disk has room again"
            if await self.save_all():
                return
            delay = min(delay * 2, self.longest)
        for ws in self._workspaces.values():
            if ws.pending:
                self._emit(ev.WARNING, ws.info.id, text="a reply still cannot be saved (disk full?): it is "
                           "retried at the next send and at quit")

    async def save_all(self) -> bool:
        """One attempt at everything the disk refused; True when nothing is left."""
        done = True
        for ws in list(self._workspaces.values()):
            if not ws.pending and ws.info.id not in self._saving:
                continue
            if ws.deleted:
                log.warning("workspace %s was deleted: dropping %d unsaved replies", ws.info.id, len(ws.pending))
                ws.pending.clear()
                continue
            try:
                await self.save_unsaved(ws)
            except StorageError:
                done = False
        return await asyncio.to_thread(self.log.flush_pending) and done

    async def flush(self, timeout: float) -> list[dict[str, Any]]:
        """Try to save what the disk refused, every `first` s for at most `timeout` s; returns
        the replies still unsaved."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while not await self.save_all():
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(self.first, left))
        return self.unsaved()
