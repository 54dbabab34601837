"""The stream manager: one stream per workspace, durable partials, queue, retry, recovery.

The contract, point by point (numbers match the engine issue and the tests):

1. One asyncio lock per workspace. Starting a stream where one runs cancels the old one and
   waits until it has fully exited (its text committed as ``interrupted``) before the new one is
   registered. Different workspaces never share a lock.
2. The partial reply goes to ``partial.json`` at most every ``partial_interval_ms``, one write in
   flight at a time, always also at interrupt, error and finish; writes run in a thread.
3. On error: await the pending partial write, then make the error state durable, then emit.
4. An interrupt is honoured however the provider reacts to it (raises CancelledError, raises its
   own error, or just ends): the run's ``interrupted`` flag is checked after the loop too.
5. Bootstrap failures (unknown provider, missing key, refused connection, bad URL) go through
   the same close path: an ``error`` message on disk and an error event, bounded by timeouts.
6. Truncating history or deleting the workspace bumps its epoch; a stream started under an older
   epoch never writes again.
7. Messages sent while streaming are queued (queue.json) and sent, merged, when a turn
   completes; an interrupt hands the queued text back; an error leaves the queue alone.
8. Retryable errors are retried with exponential backoff and jitter before any text arrived;
   a fallback chain moves the turn to the next model on configured error types. A Retry-After
   longer than ``retry_after_max`` is not waited for: the turn ends with ``retry_at`` in its
   error message, and the client counts down (the app) or waits when asked (``send --wait``).
9. Opening a workspace commits a leftover partial (crash, kill -9) as ``interrupted`` unless a
   live process holds the workspace's stream lock.
10. Whatever fails while writing (disk full, read-only, a bug), the turn still ends in a close
    event with its text and a typed error. A reply the disk refused stays in memory (and its
    partial file stays on disk) and a save loop retries it with bounded backoff until the disk
    takes it (``message.saved``); nothing new starts in that workspace meanwhile, and shutdown
    tries once more, bounded. The audit and error logs say ``write_failed`` and, once it is
    written, ``written_after_retry``.
11. Model text is valid Unicode before anything keeps it: a surrogate pair split across chunks
    is joined, a lone surrogate becomes U+FFFD (muxtui.engine.surrogates).


No Textual here: events are plain data (muxtui.engine.events).

This module is the coordinator: ``StreamManager``'s public commands, the per-workspace locks
(point 1), the cross-process stream claim, history truncation (point 6), and the event fan-out.
Its parts each own what their docstring says and emit through the manager: ``runs`` (the live
state of a workspace and a turn, the partial writer, how a turn ends), ``attempts`` (the stream
task's turns; each turn's provider requests, retries and fallbacks), ``queueing`` (the queue and
user messages), ``recovery`` (opening and re-reading workspaces, the save loop for refused
writes).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from muxtui.config import Config, split_model
from muxtui.engine import context
from muxtui.engine import events as ev
from muxtui.engine import settings as settings_mod
from muxtui.engine.attempts import FINISH_ERRORS, PAUSE_REASONS, Attempts, ProviderFactory, Turns
from muxtui.engine.attempts import default_provider_factory
from muxtui.engine.errors import StreamError
from muxtui.engine.events import Event
from muxtui.engine.features import FeatureRecorder
from muxtui.engine.logs import EventLog
from muxtui.engine.attachments import Blobs, check_ref
from muxtui.engine.providers import parts
from muxtui.engine.queueing import SendQueue, merged_attachments, merged_text
from muxtui.engine.recovery import Recovery, Saver
from muxtui.engine.redact import configured_secrets
from muxtui.engine.runs import PartialWriter, Run, Runs, Workspace
from muxtui.engine.storage import Storage, WorkspaceBusy, WorkspaceInfo, new_id, now
from muxtui.engine.surrogates import fix_surrogates

# The UI and tests import these from here.
__all__ = ["FINISH_ERRORS", "PAUSE_REASONS", "PartialWriter", "ProviderFactory", "Run", "StreamManager",
           "Workspace", "default_provider_factory"]

log = logging.getLogger("muxtui.manager")


# The save loop for replies the disk refused: first retry after SAVE_RETRY_FIRST s, doubling up
# to SAVE_RETRY_MAX s, for at most SAVE_RETRY_ROUNDS rounds (about an hour); after that, at the
# next send and at quit.
SAVE_RETRY_FIRST = 0.25
SAVE_RETRY_MAX = 5.0
SAVE_RETRY_ROUNDS = 720
SHUTDOWN_SAVE_WAIT = 3.0  # how long shutdown keeps trying to save them (bounded: quit must end)

Listener = Callable[[Event], None]


class StreamManager:
    def __init__(
        self,
        config: Config,
        storage: Storage,
        event_log: EventLog,
        *,
        provider_factory: ProviderFactory = default_provider_factory,
        rng: random.Random | None = None,
    ):
        self.config = config
        self.storage = storage
        self.log = event_log
        self._providers: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        self._seq = 0  # the last event's seq: every event gets the next one
        self._workspaces: dict[str, Workspace] = {}
        self._closed = False
        self._secrets = configured_secrets(config)
        self.shutdown_save_wait = SHUTDOWN_SAVE_WAIT
        self.blobs = Blobs(storage.root)  # attachments' bytes, once each (docs/storage.md)
        # The parts share the manager's workspaces, storage and log, and emit through it.
        self._saves = Saver(self._workspaces, storage, event_log, self._emit,
                            first=SAVE_RETRY_FIRST, longest=SAVE_RETRY_MAX, rounds=SAVE_RETRY_ROUNDS)
        self._runs = Runs(storage, event_log, self._emit, self._saves)
        self._recovery = Recovery(self._emit, self._saves)
        self._queue = SendQueue(self._emit)
        self._attempts = Attempts(config, self._emit, self._runs, provider_factory=provider_factory,
                                  providers=self._providers, rng=rng or random.Random())
        # `_close` is looked up at each close, so it can be replaced on the manager (a test puts
        # a bug there to prove the turn still ends).
        self._turns = Turns(config, self._emit, self._runs, self._attempts, self._queue, secrets=self._secrets,
                            close=lambda *args: self._close(*args), closing=lambda: self._closed)
        self.subscribe(FeatureRecorder(storage.root / "cache"))  # what each server showed, for doctor
        for pc in config.providers.values():
            if pc.api_key:
                event_log.redact.add(pc.api_key)
            key = pc.resolve_key()
            if key:
                event_log.redact.add(key)
            for value in (pc.headers or {}).values():  # e.g. Azure's api-key header
                event_log.redact.add(value)
            creds = urlsplit(pc.base_url or "")
            event_log.redact.add(creds.username, creds.password)

    # Tests (and an embedding) replace these on the manager; they live with the attempts.
    @property
    def sleep(self) -> Callable[[float], Awaitable[None]]:
        """How backoff waits between attempts."""
        return self._attempts.sleep

    @sleep.setter
    def sleep(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self._attempts.sleep = sleep

    @property
    def _factory(self) -> ProviderFactory:
        return self._attempts._factory

    @_factory.setter
    def _factory(self, factory: ProviderFactory) -> None:
        self._attempts._factory = factory

    # ---- events -------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def last_seq(self) -> int:
        """The seq of the last event emitted (0 before the first)."""
        return self._seq

    def _emit(self, type_: str, ws_id: str, **data: Any) -> None:
        self._seq += 1
        event = Event.make(type_, ws_id, self._seq, **data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must never break a stream
                log.exception("event listener failed on %s", type_)

    # ---- workspaces ---------------------------------------------------------------------
    async def list_workspaces(self) -> list[WorkspaceInfo]:
        infos = await asyncio.to_thread(self.storage.list_workspaces)
        for info in infos:
            ws = self._workspaces.get(info.id)
            if ws is None:
                self._workspaces[info.id] = Workspace(info, self.storage.store(info.id))
            else:
                ws.info = info
        return [self._workspaces[i.id].info for i in infos]

    def workspace(self, ws_id: str) -> Workspace:
        ws = self._workspaces.get(ws_id)
        if ws is None or ws.deleted:
            raise KeyError(f"no workspace {ws_id!r}")
        return ws

    async def create_workspace(self, name: str, model: str | None = None) -> WorkspaceInfo:
        info = await asyncio.to_thread(self.storage.create_workspace, name, model or self.config.default_model)
        ws = Workspace(info, self.storage.store(info.id), opened=True)
        self._workspaces[info.id] = ws
        self._emit(ev.WORKSPACE_CREATED, info.id, info=info.to_dict())
        return info

    async def open_workspace(self, ws_id: str) -> Workspace:
        """Load history and queue; commit a leftover partial as interrupted (point 9)."""
        ws = self._workspaces.get(ws_id)
        if ws is None:
            await self.list_workspaces()
            ws = self.workspace(ws_id)
        return await self._recovery.open(ws)

    async def sync_from_disk(self, ws_id: str) -> bool:
        """Re-read an idle workspace that another process (`muxtui send`, a second app) has
        written since we loaded it, so its turns are shown and sent as context. True if reloaded."""
        ws = self._workspaces.get(ws_id)
        if ws is None or not ws.opened or ws.streaming or ws.deleted:
            return False
        async with ws.io:
            return await self._recovery.sync(ws)

    async def rename_workspace(self, ws_id: str, name: str) -> WorkspaceInfo:
        ws = self.workspace(ws_id)
        ws.info = await asyncio.to_thread(self.storage.update_workspace, ws_id, name=name)
        self._emit(ev.WORKSPACE_UPDATED, ws_id, info=ws.info.to_dict())
        return ws.info

    async def set_model(self, ws_id: str, model: str) -> WorkspaceInfo:
        split_model(model)  # raises ValueError with a clear message
        ws = self.workspace(ws_id)
        ws.info = await asyncio.to_thread(self.storage.update_workspace, ws_id, model=model)
        self._emit(ev.WORKSPACE_UPDATED, ws_id, info=ws.info.to_dict())
        return ws.info

    def effective_settings(self, ws_id: str) -> dict[str, Any]:
        """What the next request of this workspace sends: its settings over [defaults]."""
        ws = self._workspaces.get(ws_id)
        return settings_mod.effective(self.config.defaults, ws.settings if ws else {})

    async def set_settings(self, ws_id: str, settings: dict[str, Any]) -> dict[str, Any]:
        """Replace the workspace's settings (validated; ValueError names a bad one)."""
        clean = settings_mod.validate(settings)
        ws = await self.open_workspace(ws_id)
        async with ws.io:
            await asyncio.to_thread(ws.store.write_settings, clean)
            ws.settings = clean
        self._emit(ev.WORKSPACE_UPDATED, ws_id, info=ws.info.to_dict(), settings=dict(clean))
        return clean

    async def fork_workspace(self, ws_id: str, upto_seq: int | None = None, name: str | None = None) -> WorkspaceInfo:
        """A new workspace holding this one's conversation up to (and including) message
        `upto_seq` (all of it when None), with the same model and settings."""
        ws = await self.open_workspace(ws_id)
        await self._saves.save_unsaved(ws)
        messages = [m for m in ws.messages if upto_seq is None or m.get("seq", 0) <= upto_seq]
        if not messages:
            raise ValueError("nothing to fork: no message up to that point")
        settings = dict(ws.settings)
        source = ws.info

        def copy() -> WorkspaceInfo:
            info = self.storage.create_workspace(name or f"fork: {source.name}", source.model)
            store = self.storage.store(info.id)
            for m in messages:
                record = {k: v for k, v in m.items() if k not in ("seq", "v", "kind", "unsaved")}
                record["forked_from"] = {"workspace": source.id, "id": m.get("id")}
                store.append(record)
            if settings:
                store.write_settings(settings)
            return info

        info = await asyncio.to_thread(copy)
        self._workspaces[info.id] = Workspace(info, self.storage.store(info.id))
        self._emit(ev.WORKSPACE_CREATED, info.id, info=info.to_dict(), forked_from=ws_id)
        return info

    async def delete_workspace(self, ws_id: str) -> None:
        """Point 6: the in-flight stream is cancelled and none of its late writes land."""
        ws = self.workspace(ws_id)
        async with ws.lock:
            async with ws.io:
                ws.deleted = True
                ws.epoch += 1
            await self._turns.stop(ws)
            await asyncio.to_thread(self.storage.delete_workspace, ws_id)
        self._workspaces.pop(ws_id, None)
        self._emit(ev.WORKSPACE_DELETED, ws_id)

    # ---- sending ------------------------------------------------------------------------
    def is_streaming(self, ws_id: str) -> bool:
        ws = self._workspaces.get(ws_id)
        return bool(ws and ws.streaming)

    def current_run(self, ws_id: str) -> Run | None:
        ws = self._workspaces.get(ws_id)
        return ws.run if ws and ws.streaming else None

    async def check_attachments(self, refs: list[dict] | None) -> list[dict]:
        """References a client sends with a message, checked (their blobs exist) and normalised;
        ValueError names a bad one."""
        if not refs:
            return []
        if not isinstance(refs, list):
            raise ValueError("attachments must be a list of references from `store_attachment`")
        return await asyncio.to_thread(lambda: [check_ref(r, self.blobs) for r in refs])

    async def send(self, ws_id: str, text: str, attachments: list[dict] | None = None) -> str:
        """Send a user message: 'started' a stream, or 'queued' it behind the running one."""
        refs = await self.check_attachments(attachments)
        if not text.strip() and not refs:
            raise ValueError("refusing to send an empty message")
        text = fix_surrogates(text)  # e.g. argv bytes that are not UTF-8 (surrogateescape)
        ws = await self.open_workspace(ws_id)
        if refs:
            parts.refuse_images(self.config, ws.info.model, refs)
        if ws.streaming:
            await self._queue.add(ws, text, refs)
            return "queued"
        async with ws.lock:
            if ws.streaming:
                await self._queue.add(ws, text, refs)
                return "queued"
            await self._claim(ws)
            try:
                async with ws.io:
                    await self._recovery.sync(ws)  # another process's turns belong in the context
                queued = list(ws.queue)
                await self._queue.add_user_message(ws, merged_text(queued, text), [q["id"] for q in queued],
                                                   merged_attachments(queued, refs))
            except BaseException:
                ws.store.unlock_stream()
                raise
            self._turns.start(ws)
        return "started"

    async def compact(self, ws_id: str, retry: bool = False) -> dict[str, Any]:
        """Summarise the conversation before its last ``[context] keep_turns`` turns into one
        summary record (docs/storage.md); the originals stay, requests send the summary instead.
        A failed summary call writes nothing and raises its StreamError (the reason to show)."""
        ws = await self.open_workspace(ws_id)
        async with ws.lock:
            if ws.streaming:
                raise ValueError("a reply is streaming: compact when it has finished")
            async with ws.io:
                await self._recovery.sync(ws)  # another process's turns are part of what to summarise
            cfg = self.config.context
            found = context.compact_range(ws.messages, cfg.keep_turns)
            if found is None:
                raise ValueError(f"nothing to compact: the conversation is no longer than its last "
                                 f"{cfg.keep_turns} turns ([context] keep_turns)")
            older, (first, last) = found
            model = cfg.compact_model or ws.info.model
            text, usage = await self._attempts.summarize(model, older, self._secrets)
            record: dict[str, Any] = {"id": new_id("m"), "role": "system", "summary": True, "summarizes": [first, last],
                                      "content": text, "model": model, "created_at": now()}
            if usage:
                record["summary_usage"] = usage
            last_user = max((i for i, m in enumerate(ws.messages) if m["role"] == "user"), default=None)
            if retry and last_user is not None and last_user + 1 < len(ws.messages):
                await self._truncate(ws, ws.messages[last_user + 1]["seq"])  # the failed reply
            async with ws.io:
                committed = await asyncio.to_thread(ws.store.append, record)
                ws.messages.append(committed)
            self._emit(ev.MESSAGE_ADDED, ws_id, message=committed)
            if retry:
                await self._claim(ws)
                self._turns.start(ws)
        return committed

    async def start_stream(self, ws_id: str) -> str:
        """Run a turn on the current history; cancels and waits for a running one (point 1)."""
        ws = await self.open_workspace(ws_id)
        if not any(m["role"] == "user" for m in ws.messages):
            raise ValueError("nothing to send: the conversation has no user message")
        async with ws.lock:
            await self._turns.stop(ws)
            await self._claim(ws)
            run = self._turns.start(ws)
        return run.request_id

    async def retry(self, ws_id: str) -> str:
        """Re-run the last turn: drop the replies after the last user message, stream again."""
        ws = await self.open_workspace(ws_id)
        async with ws.lock:
            await self._turns.stop(ws)
            await self._saves.save_unsaved(ws)
            last_user = max((i for i, m in enumerate(ws.messages) if m["role"] == "user"), default=None)
            if last_user is None:
                raise ValueError("nothing to retry: the conversation has no user message")
            if last_user + 1 < len(ws.messages):
                await self._truncate(ws, ws.messages[last_user + 1]["seq"])
            await self._claim(ws)
            run = self._turns.start(ws)
        return run.request_id

    async def edit_and_resend(self, ws_id: str, seq: int, text: str, attachments: list[dict] | None = None) -> str:
        """Replace the user message `seq` (and everything after it) and stream a new reply. Its
        attachments stay unless ``attachments`` is given (a list, maybe empty, replaces them)."""
        ws = await self.open_workspace(ws_id)
        if attachments is None:
            old = next((m for m in ws.messages if m.get("seq") == seq), None)
            attachments = list(old.get("attachments") or ()) if old is not None else []
        refs = await self.check_attachments(attachments)
        if not text.strip() and not refs:
            raise ValueError("refusing to send an empty message")
        parts.refuse_images(self.config, ws.info.model, refs)
        async with ws.lock:
            async with ws.io:
                ws.epoch += 1  # the running stream's late writes are now refused (point 6)
            await self._turns.stop(ws)
            await self._saves.save_unsaved(ws)
            await self._truncate(ws, seq)
            await self._claim(ws)
            try:
                await self._queue.add_user_message(ws, text, [], refs)
            except BaseException:
                ws.store.unlock_stream()
                raise
            run = self._turns.start(ws)
        return run.request_id

    async def interrupt(self, ws_id: str, full: bool = False) -> str | dict | None:
        """Stop the stream (its text is committed as interrupted); hand back the queued text, or
        with ``full`` the queue as ``{"text", "attachments"}``; None when nothing was queued."""
        ws = self._workspaces.get(ws_id)
        if ws is None or not ws.streaming:
            return None
        handback = await self._queue.hand_back(ws)
        await self._turns.stop(ws)
        if handback is None or full:
            return handback
        return handback["text"]

    async def send_now(self, ws_id: str, item_ids: list[str] | None = None) -> str:
        """Send queued messages now (all of them when `item_ids` is None): a running reply is
        stopped and kept as interrupted; queued messages not chosen stay queued."""
        ws = await self.open_workspace(ws_id)
        async with ws.lock:
            await self._turns.stop(ws)  # the reply is committed as interrupted; the queue stays
            wanted = set(item_ids) if item_ids is not None else {q["id"] for q in ws.queue}
            items = [q for q in ws.queue if q["id"] in wanted]
            last = ws.messages[-1] if ws.messages else None
            if not items and not (last is not None and last["role"] == "user" and last.get("queue_ids")):
                raise KeyError("that queued message was already sent")
            await self._claim(ws)
            try:
                if items:
                    await self._queue.add_user_message(ws, merged_text(items), [q["id"] for q in items],
                                                       merged_attachments(items))
            except BaseException:
                ws.store.unlock_stream()
                raise
            # else: the turn ended and merged the queue just before the stop; reply to that.
            run = self._turns.start(ws)
        return run.request_id

    @staticmethod
    def continuable(message: dict[str, Any] | None) -> bool:
        """An assistant reply that stopped early with text: interrupted, an error after some text
        (max_output_tokens, a dropped stream), or Anthropic's pause_turn."""
        if not message or message.get("role") != "assistant" or not (message.get("content") or "").strip():
            return False
        if message.get("status") in ("interrupted", "error"):
            return True
        return message.get("finish_reason") == "pause_turn"

    async def continue_reply(self, ws_id: str) -> str:
        """Continue the last reply where it stopped; the result is one joined reply.

        The old reply is cut from the conversation (append-only marker, kept in the file) and a
        new stream starts with its text as the reply so far. Anthropic gets it as an assistant
        prefill (trailing whitespace removed, as the API requires); OpenAI-compatible servers
        get it as an assistant turn followed by a user turn asking to continue.
        """
        ws = await self.open_workspace(ws_id)
        async with ws.lock:
            await self._turns.stop(ws)
            await self._saves.save_unsaved(ws)
            last = ws.messages[-1] if ws.messages else None
            if not self.continuable(last):
                raise ValueError("nothing to continue: the last reply is complete or empty (ctrl+r regenerates)")
            assert last is not None
            text = last.get("content") or ""
            try:
                pc = self.config.providers.get(split_model(ws.info.model)[0])
            except ValueError:
                pc = None
            if pc is not None and pc.type == "anthropic":
                text = text.rstrip()
            await self._truncate(ws, last["seq"])
            await self._claim(ws)
            run = self._turns.start(ws, prefill=text, reasoning=last.get("reasoning") or "")
        return run.request_id

    async def wait_idle(self, ws_id: str) -> None:
        ws = self._workspaces.get(ws_id)
        while ws is not None and ws.task is not None and not ws.task.done():
            await asyncio.wait({ws.task})

    async def shutdown(self) -> None:
        """Interrupt every stream (each partial committed as interrupted) and close providers."""
        self._closed = True  # no stream starts from here on (a start waiting on a lock is refused)
        while streaming := [ws for ws in self._workspaces.values() if ws.streaming]:
            await asyncio.gather(*(self._turns.stop(ws) for ws in streaming), return_exceptions=True)
        if self.has_unsaved():
            left = await self.flush_unsaved(self.shutdown_save_wait)
            for rec in left:
                log.error("quitting with a reply not saved (%d chars, workspace %s): the disk refused it",
                          len(rec.get("content") or ""), rec.get("workspace"))
        await self._saves.stop()
        for provider in self._providers.values():
            try:
                await provider.aclose()
            except Exception:
                pass
        self._providers.clear()

    # ---- queue --------------------------------------------------------------------------
    async def edit_queued(self, ws_id: str, item_id: str, text: str, attachments: list[dict] | None = None) -> None:
        refs = None if attachments is None else await self.check_attachments(attachments)
        ws = await self.open_workspace(ws_id)
        await self._queue.edit(ws, item_id, text, refs)

    async def remove_queued(self, ws_id: str, item_id: str) -> dict | None:
        ws = await self.open_workspace(ws_id)
        return await self._queue.remove(ws, item_id)

    async def pop_last_queued(self, ws_id: str) -> dict | None:
        ws = await self.open_workspace(ws_id)
        if not ws.queue:
            return None
        return await self.remove_queued(ws_id, ws.queue[-1]["id"])

    # ---- the save loop (point 10) -------------------------------------------------------
    def has_unsaved(self) -> bool:
        """Replies or log records the disk refused, still only in memory."""
        return self._saves.has_unsaved()

    def unsaved(self) -> list[dict[str, Any]]:
        """The replies still only in memory (each record with its workspace id)."""
        return self._saves.unsaved()

    async def flush_unsaved(self, timeout: float) -> list[dict[str, Any]]:
        """Try to save what the disk refused, every SAVE_RETRY_FIRST s for at most `timeout` s
        (quit, `muxtui send`); returns the replies still unsaved."""
        return await self._saves.flush(timeout)

    # ---- internals ----------------------------------------------------------------------
    async def _claim(self, ws: Workspace) -> None:
        """Take the cross-process stream lock, or refuse clearly (two SSH sessions)."""
        if ws.deleted:
            raise KeyError(f"workspace {ws.info.id} was deleted")
        if self._closed:
            raise RuntimeError("muxtui is shutting down: no new streams")
        await self._saves.save_unsaved(ws)
        ok = await asyncio.to_thread(ws.store.try_lock_stream)
        if not ok:
            raise WorkspaceBusy(
                f"workspace '{ws.info.name}' is streaming in another muxtui process "
                f"(pid {ws.store.stream_lock_holder()}); wait for it to finish or interrupt it there"
            )

    async def _truncate(self, ws: Workspace, from_seq: int) -> None:
        async with ws.io:
            ws.epoch += 1
            await asyncio.to_thread(ws.store.append_truncate, from_seq)
            await asyncio.to_thread(ws.store.clear_partial)
            # A summary written after the cut whose messages all stay (a retry after /compact)
            # stays in force: it is written again after the truncate record.
            keep = [m for m in ws.messages if m.get("seq", -1) >= from_seq and m.get("summary")
                    and context.latest_summary([m]) is not None and m["summarizes"][1] < from_seq]
            ws.messages = [m for m in ws.messages if m.get("seq", from_seq) < from_seq]
            again = []
            for m in keep[-1:]:  # the newest covers the older ones
                copy = {k: v for k, v in m.items() if k not in ("seq", "v")}
                copy["id"] = new_id("m")
                again.append(await asyncio.to_thread(ws.store.append, copy))
            ws.messages.extend(again)
        self._emit(ev.HISTORY_TRUNCATED, ws.info.id, from_seq=from_seq)
        for m in again:
            self._emit(ev.MESSAGE_ADDED, ws.info.id, message=m)

    async def _close(self, ws: Workspace, run: Run, status: str, err: StreamError | None) -> None:
        """How a turn ends (runs.Runs.close); the stream task calls it through the manager."""
        await self._runs.close(ws, run, status, err)
