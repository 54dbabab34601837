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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from muxtui.config import Config, ProviderConfig, split_model
from muxtui.engine import events as ev
from muxtui.engine import settings as settings_mod
from muxtui.engine.features import FeatureRecorder
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.events import Event
from muxtui.engine.logs import EventLog
from muxtui.engine.providers.base import (
    ChatMessage,
    Citation,
    Finish,
    ReasoningDelta,
    RefusalDelta,
    StopReason,
    StreamRequest,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from muxtui.engine.redact import StreamRedactor, configured_secrets
from muxtui.engine.surrogates import SurrogateJoiner, fix_surrogates
from muxtui.engine.storage import (
    FORMAT_VERSION,
    Storage,
    StorageError,
    WorkspaceBusy,
    WorkspaceInfo,
    WorkspaceStore,
    as_float,
    new_id,
    now,
)

log = logging.getLogger("muxtui.manager")

# The save loop for replies the disk refused: first retry after SAVE_RETRY_FIRST s, doubling up
# to SAVE_RETRY_MAX s, for at most SAVE_RETRY_ROUNDS rounds (about an hour); after that, at the
# next send and at quit.
SAVE_RETRY_FIRST = 0.25
SAVE_RETRY_MAX = 5.0
SAVE_RETRY_ROUNDS = 720
SHUTDOWN_SAVE_WAIT = 3.0  # how long shutdown keeps trying to save them (bounded: quit must end)

Listener = Callable[[Event], None]

# Finish reasons that end a reply short of a full answer: the text is kept, the reply is saved as
# an error of this type (never retried), with a message that says what happened.
FINISH_ERRORS: dict[str, tuple[ErrorType, str]] = {
    "length": (ErrorType.MAX_OUTPUT_TOKENS, "the reply was cut at the output token limit"),
    "max_tokens": (ErrorType.MAX_OUTPUT_TOKENS, "the reply was cut at the output token limit"),
    "content_filter": (ErrorType.MODEL_REFUSAL, "the provider's content filter stopped the reply"),
    "refusal": (ErrorType.MODEL_REFUSAL, "the model refused"),
    "model_context_window_exceeded": (ErrorType.CONTEXT_EXCEEDED, "the reply filled the model's context window"),
}
# Anthropic pauses a long server-tool turn; it is not a finished answer (the turn is saved as
# interrupted and the user can send "continue").
PAUSE_REASONS = frozenset({"pause_turn"})


async def _finish_regardless(coro: Awaitable[Any]) -> Any:
    """Run cleanup to the end even if our task is cancelled again meanwhile."""
    task = asyncio.ensure_future(coro)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
    return task.result()


class PartialWriter:
    """Throttled, single-flight writer of one stream's partial reply."""

    def __init__(self, interval: float, write: Callable[[dict], None], snapshot: Callable[[], dict]):
        self.interval = interval
        self._write = write
        self._snapshot = snapshot
        self._dirty = False
        self._last = 0.0
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self.writes = 0
        self.failed: Exception | None = None

    def poke(self) -> None:
        if self._closing or self.failed:
            return
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while self._dirty and not self._closing:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
                if self._closing:
                    return
            self._dirty = False
            await self._write_now(None)

    async def _write_now(self, snap: dict | None) -> None:
        try:
            if snap is None:
                snap = self._snapshot()
            await asyncio.to_thread(self._write, snap)
            self.writes += 1
        except Exception as exc:  # any failure, not only OSError: the turn ends with write_failed
            self.failed = exc
        finally:
            self._last = time.monotonic()

    async def close(self, final: dict | None) -> None:
        """Await the write in flight (never cut it short), then write `final` if given."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await asyncio.wait({self._task})
        if final is not None and self.failed is None:
            await self._write_now(final)


@dataclass
class Run:
    """One turn in one workspace: possibly several attempts (retries, fallbacks)."""

    request_id: str
    message_id: str
    model: str
    epoch: int
    started: float = field(default_factory=time.monotonic)
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    content_len: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str | None = None
    stop_detail: str | None = None  # the provider's explanation of the stop (refusal, filter)
    refusal: list[str] = field(default_factory=list)
    tool_calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> {"id","name","arguments",...}
    citations: list[dict[str, str]] = field(default_factory=list)
    paused: bool = False  # the provider paused the turn (pause_turn): saved as interrupted
    interrupted: bool = False
    entered: bool = False  # the task has started running (its try/finally exists)
    attempt: int = 0
    partial: PartialWriter | None = None
    queue_handback: str | None = None
    # Echoed credentials are cut out before text is kept, saved or emitted (engine.redact).
    text_filter: StreamRedactor = field(default_factory=StreamRedactor)
    reasoning_filter: StreamRedactor = field(default_factory=StreamRedactor)
    prefill: str | None = None  # continuing a reply: its text so far (already in `content`)
    text_fix: SurrogateJoiner = field(default_factory=SurrogateJoiner)
    reasoning_fix: SurrogateJoiner = field(default_factory=SurrogateJoiner)
    closed: bool = False  # its close event went out

    @property
    def text(self) -> str:
        if len(self.content) > 1:
            self.content[:] = ["".join(self.content)]
        return self.content[0] if self.content else ""

    @property
    def reasoning_text(self) -> str:
        if len(self.reasoning) > 1:
            self.reasoning[:] = ["".join(self.reasoning)]
        return self.reasoning[0] if self.reasoning else ""

    @property
    def has_output(self) -> bool:
        return bool(self.content_len or self.reasoning or self.refusal or self.tool_calls
                    or self.text_filter.pending or self.reasoning_filter.pending)

    def add_tool_call(self, item: ToolCallDelta) -> None:
        call = self.tool_calls.get(item.key)
        if call is None:
            call = self.tool_calls[item.key] = {"id": item.id, "name": item.name, "arguments": ""}
        if item.id and not call.get("id"):
            call["id"] = item.id
        if item.name and not call.get("name"):
            call["name"] = item.name
        if item.arguments:
            call["arguments"] += item.arguments
        if item.server:
            call["server"] = True
        if item.result is not None:
            call["result"] = item.result

    def typed_parts(self) -> dict[str, Any]:
        """The reply's refusal, tool calls and citations as saved with the message."""
        parts: dict[str, Any] = {}
        if self.refusal:
            parts["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            parts["tool_calls"] = [
                {k: v for k, v in call.items() if v is not None and (v != "" or k == "arguments")}
                for call in self.tool_calls.values()
            ]
        if self.citations:
            parts["citations"] = list(self.citations)
        return parts


@dataclass
class Workspace:
    info: WorkspaceInfo
    store: WorkspaceStore
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # serialises stream starts
    io: asyncio.Lock = field(default_factory=asyncio.Lock)  # serialises this workspace's writes
    epoch: int = 0
    deleted: bool = False
    opened: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task | None = None
    run: Run | None = None
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # settings.json (request settings)
    # Replies the disk refused, by message id: the record to write once it has room.
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def streaming(self) -> bool:
        return self.task is not None and not self.task.done()


ProviderFactory = Callable[[ProviderConfig, Config], Any]


def default_provider_factory(pc: ProviderConfig, cfg: Config) -> Any:
    from muxtui.engine.providers import PROVIDER_TYPES

    cls = PROVIDER_TYPES[pc.type]
    if pc.type == "demo":
        return cls(pc.name, chars_per_second=pc.chars_per_second)
    key = pc.resolve_key()
    kwargs: dict[str, Any] = dict(
        connect_timeout=cfg.stream.connect_timeout, read_timeout=cfg.stream.read_timeout, headers=pc.headers or None
    )
    if pc.type == "openai-responses":
        kwargs.update(reasoning_summary=pc.reasoning_summary, reasoning_effort=pc.reasoning_effort)
    return cls(pc.name, pc.base_url, key, **kwargs)


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
        self._factory = provider_factory
        self._providers: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        self._seq = 0  # the last event's seq: every event gets the next one
        self._workspaces: dict[str, Workspace] = {}
        self._rng = rng or random.Random()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # backoff waits (tests may speed up)
        self._closed = False
        self._secrets = configured_secrets(config)
        self._saver: asyncio.Task | None = None
        self.shutdown_save_wait = SHUTDOWN_SAVE_WAIT
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
        if ws.opened:
            return ws
        async with ws.io:
            if ws.opened:
                return ws
            recovered, history, queue, warnings = await asyncio.to_thread(self._load, ws)
            settings, settings_warnings = await asyncio.to_thread(ws.store.read_settings)
            ws.settings = self._valid_settings(settings, ws, settings_warnings)
            warnings = warnings + settings_warnings
            ws.messages = history
            ws.queue = queue
            ws.warnings = warnings
            ws.opened = True
        if recovered is not None:
            self._emit(ev.WORKSPACE_RECOVERED, ws_id, message=recovered)
            self._record_close(
                {"ts": now(), "request_id": recovered.get("request_id"), "workspace": ws_id,
                 "model": recovered.get("model"), "provider": _provider_of(recovered.get("model")),
                 "close_kind": "crash_recovered", "error_type": None, "events": None,
                 "bytes": len(recovered.get("content", "").encode()), "upstream_status": None,
                 "duration": None, "attempt": None}
            )
        for w in warnings:
            self._emit(ev.WARNING, ws_id, text=w)
        return ws

    def _load(self, ws: Workspace) -> tuple[dict | None, list[dict], list[dict], list[str]]:
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

    def _recover_partial(self, store: WorkspaceStore, warnings: list[str]) -> dict | None:
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

    async def sync_from_disk(self, ws_id: str) -> bool:
        """Re-read an idle workspace that another process (`muxtui send`, a second app) has
        written since we loaded it, so its turns are shown and sent as context. True if reloaded."""
        ws = self._workspaces.get(ws_id)
        if ws is None or not ws.opened or ws.streaming or ws.deleted:
            return False
        async with ws.io:
            return await self._sync_locked(ws)

    async def _sync_locked(self, ws: Workspace) -> bool:
        changed, meta = await asyncio.to_thread(self._disk_changed, ws)
        if meta:
            name, model = meta.get("name"), meta.get("model")
            if (isinstance(name, str) and name != ws.info.name) or (isinstance(model, str) and model != ws.info.model):
                ws.info.name = name if isinstance(name, str) else ws.info.name
                ws.info.model = model if isinstance(model, str) else ws.info.model
                self._emit(ev.WORKSPACE_UPDATED, ws.info.id, info=ws.info.to_dict())
        if not changed:
            return False
        recovered, history, queue, warnings = await asyncio.to_thread(self._load, ws)
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

    # ---- settings, fork ------------------------------------------------------------------
    @staticmethod
    def _valid_settings(raw: dict[str, Any], ws: Workspace, warnings: list[str]) -> dict[str, Any]:
        try:
            return settings_mod.validate(raw, f"{ws.store.settings_file}")
        except ValueError as exc:  # hand-edited: say so, send nothing odd
            warnings.append(f"{exc}; using the defaults")
            return {}

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
        await self._save_unsaved(ws)
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
            await self._stop_task(ws)
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

    async def send(self, ws_id: str, text: str) -> str:
        """Send a user message: 'started' a stream, or 'queued' it behind the running one."""
        if not text.strip():
            raise ValueError("refusing to send an empty message")
        text = fix_surrogates(text)  # e.g. argv bytes that are not UTF-8 (surrogateescape)
        ws = await self.open_workspace(ws_id)
        if ws.streaming:
            await self._queue_add(ws, text)
            return "queued"
        async with ws.lock:
            if ws.streaming:
                await self._queue_add(ws, text)
                return "queued"
            await self._claim(ws)
            try:
                async with ws.io:
                    await self._sync_locked(ws)  # another process's turns belong in the context
                queued = list(ws.queue)
                merged = "\n\n".join([q["text"] for q in queued] + [text])
                await self._add_user_message(ws, merged, [q["id"] for q in queued])
            except BaseException:
                ws.store.unlock_stream()
                raise
            self._start(ws)
        return "started"

    async def start_stream(self, ws_id: str) -> str:
        """Run a turn on the current history; cancels and waits for a running one (point 1)."""
        ws = await self.open_workspace(ws_id)
        if not any(m["role"] == "user" for m in ws.messages):
            raise ValueError("nothing to send: the conversation has no user message")
        async with ws.lock:
            await self._stop_task(ws)
            await self._claim(ws)
            run = self._start(ws)
        return run.request_id

    async def retry(self, ws_id: str) -> str:
        """Re-run the last turn: drop the replies after the last user message, stream again."""
        ws = await self.open_workspace(ws_id)
        async with ws.lock:
            await self._stop_task(ws)
            await self._save_unsaved(ws)
            last_user = max((i for i, m in enumerate(ws.messages) if m["role"] == "user"), default=None)
            if last_user is None:
                raise ValueError("nothing to retry: the conversation has no user message")
            if last_user + 1 < len(ws.messages):
                await self._truncate(ws, ws.messages[last_user + 1]["seq"])
            await self._claim(ws)
            run = self._start(ws)
        return run.request_id

    async def edit_and_resend(self, ws_id: str, seq: int, text: str) -> str:
        """Replace the user message `seq` (and everything after it) and stream a new reply."""
        if not text.strip():
            raise ValueError("refusing to send an empty message")
        ws = await self.open_workspace(ws_id)
        async with ws.lock:
            async with ws.io:
                ws.epoch += 1  # the running stream's late writes are now refused (point 6)
            await self._stop_task(ws)
            await self._save_unsaved(ws)
            await self._truncate(ws, seq)
            await self._claim(ws)
            try:
                await self._add_user_message(ws, text, [])
            except BaseException:
                ws.store.unlock_stream()
                raise
            run = self._start(ws)
        return run.request_id

    async def interrupt(self, ws_id: str) -> str | None:
        """Stop the stream (its text is committed as interrupted); hand back the queued text."""
        ws = self._workspaces.get(ws_id)
        if ws is None or not ws.streaming:
            return None
        handback = None
        async with ws.io:
            if ws.queue:
                handback = "\n\n".join(q["text"] for q in ws.queue)
                ws.queue = []
                await asyncio.to_thread(ws.store.save_queue, [])
        if handback is not None:
            self._emit(ev.QUEUE_CHANGED, ws_id, items=[])
        await self._stop_task(ws)
        return handback

    async def send_now(self, ws_id: str, item_ids: list[str] | None = None) -> str:
        """Send queued messages now (all of them when `item_ids` is None): a running reply is
        stopped and kept as interrupted; queued messages not chosen stay queued."""
        ws = await self.open_workspace(ws_id)
        async with ws.lock:
            await self._stop_task(ws)  # the reply is committed as interrupted; the queue stays
            wanted = set(item_ids) if item_ids is not None else {q["id"] for q in ws.queue}
            items = [q for q in ws.queue if q["id"] in wanted]
            last = ws.messages[-1] if ws.messages else None
            if not items and not (last is not None and last["role"] == "user" and last.get("queue_ids")):
                raise KeyError("that queued message was already sent")
            await self._claim(ws)
            try:
                if items:
                    await self._add_user_message(ws, "\n\n".join(q["text"] for q in items), [q["id"] for q in items])
            except BaseException:
                ws.store.unlock_stream()
                raise
            # else: the turn ended and merged the queue just before the stop; reply to that.
            run = self._start(ws)
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
            await self._stop_task(ws)
            await self._save_unsaved(ws)
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
            run = self._start(ws, prefill=text, reasoning=last.get("reasoning") or "")
        return run.request_id

    async def wait_idle(self, ws_id: str) -> None:
        ws = self._workspaces.get(ws_id)
        while ws is not None and ws.task is not None and not ws.task.done():
            await asyncio.wait({ws.task})

    async def shutdown(self) -> None:
        """Interrupt every stream (each partial committed as interrupted) and close providers."""
        self._closed = True  # no stream starts from here on (a start waiting on a lock is refused)
        while streaming := [ws for ws in self._workspaces.values() if ws.streaming]:
            await asyncio.gather(*(self._stop_task(ws) for ws in streaming), return_exceptions=True)
        if self.has_unsaved():
            left = await self.flush_unsaved(self.shutdown_save_wait)
            for rec in left:
                log.error("quitting with a reply not saved (%d chars, workspace %s): the disk refused it",
                          len(rec.get("content") or ""), rec.get("workspace"))
        if self._saver is not None and not self._saver.done():
            self._saver.cancel()
            await asyncio.wait({self._saver})
        for provider in self._providers.values():
            try:
                await provider.aclose()
            except Exception:
                pass
        self._providers.clear()

    # ---- queue --------------------------------------------------------------------------
    async def _queue_add(self, ws: Workspace, text: str) -> None:
        async with ws.io:
            ws.queue.append({"id": new_id("q"), "text": text, "created_at": now()})
            await asyncio.to_thread(ws.store.save_queue, list(ws.queue))
        self._emit(ev.QUEUE_CHANGED, ws.info.id, items=list(ws.queue))

    async def edit_queued(self, ws_id: str, item_id: str, text: str) -> None:
        ws = await self.open_workspace(ws_id)
        async with ws.io:
            for item in ws.queue:
                if item["id"] == item_id:
                    item["text"] = text
                    break
            else:
                raise KeyError(f"no queued message {item_id!r}")
            await asyncio.to_thread(ws.store.save_queue, list(ws.queue))
        self._emit(ev.QUEUE_CHANGED, ws_id, items=list(ws.queue))

    async def remove_queued(self, ws_id: str, item_id: str) -> dict | None:
        ws = await self.open_workspace(ws_id)
        async with ws.io:
            item = next((q for q in ws.queue if q["id"] == item_id), None)
            if item is None:
                return None
            ws.queue.remove(item)
            await asyncio.to_thread(ws.store.save_queue, list(ws.queue))
        self._emit(ev.QUEUE_CHANGED, ws_id, items=list(ws.queue))
        return item

    async def pop_last_queued(self, ws_id: str) -> dict | None:
        ws = await self.open_workspace(ws_id)
        if not ws.queue:
            return None
        return await self.remove_queued(ws_id, ws.queue[-1]["id"])

    # ---- internals ----------------------------------------------------------------------
    async def _claim(self, ws: Workspace) -> None:
        """Take the cross-process stream lock, or refuse clearly (two SSH sessions)."""
        if ws.deleted:
            raise KeyError(f"workspace {ws.info.id} was deleted")
        if self._closed:
            raise RuntimeError("muxtui is shutting down: no new streams")
        await self._save_unsaved(ws)
        ok = await asyncio.to_thread(ws.store.try_lock_stream)
        if not ok:
            raise WorkspaceBusy(
                f"workspace '{ws.info.name}' is streaming in another muxtui process "
                f"(pid {ws.store.stream_lock_holder()}); wait for it to finish or interrupt it there"
            )

    async def _save_unsaved(self, ws: Workspace) -> None:
        """A reply whose commit failed (disk full) is saved before anything else may overwrite
        its partial; if the disk still refuses, nothing new starts."""
        if not ws.pending:
            return
        async with ws.io:
            for mid, record in list(ws.pending.items()):
                try:
                    committed = await asyncio.to_thread(self._commit_pending, ws.store, record)
                except Exception as exc:
                    raise StorageError(f"cannot save the previous reply ({_why(exc)}): free some disk space; "
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
                self._record_close({
                    "ts": now(), "request_id": committed.get("request_id"), "workspace": ws.info.id,
                    "model": committed.get("model"), "provider": _provider_of(committed.get("model")),
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

    # ---- the save loop (point 10) -------------------------------------------------------
    def has_unsaved(self) -> bool:
        """Replies or log records the disk refused, still only in memory."""
        return bool(self.log.pending) or any(ws.pending for ws in self._workspaces.values())

    def unsaved(self) -> list[dict[str, Any]]:
        """The replies still only in memory (each record with its workspace id)."""
        return [{**rec, "workspace": ws.info.id} for ws in self._workspaces.values() for rec in ws.pending.values()]

    def _ensure_saver(self) -> None:
        if self._saver is None or self._saver.done():
            self._saver = asyncio.get_running_loop().create_task(self._save_loop(), name="save-retry")

    async def _save_loop(self) -> None:
        delay = SAVE_RETRY_FIRST
        for _ in range(SAVE_RETRY_ROUNDS):
            await asyncio.sleep(delay)  # backoff: no event says "the disk has room again"
            if await self._save_all():
                return
            delay = min(delay * 2, SAVE_RETRY_MAX)
        for ws in self._workspaces.values():
            if ws.pending:
                self._emit(ev.WARNING, ws.info.id, text="a reply still cannot be saved (disk full?): it is "
                           "retried at the next send and at quit")

    async def _save_all(self) -> bool:
        """One attempt at everything the disk refused; True when nothing is left."""
        done = True
        for ws in list(self._workspaces.values()):
            if not ws.pending:
                continue
            if ws.deleted:
                log.warning("workspace %s was deleted: dropping %d unsaved replies", ws.info.id, len(ws.pending))
                ws.pending.clear()
                continue
            try:
                await self._save_unsaved(ws)
            except StorageError:
                done = False
        return await asyncio.to_thread(self.log.flush_pending) and done

    async def flush_unsaved(self, timeout: float) -> list[dict[str, Any]]:
        """Try to save what the disk refused, every SAVE_RETRY_FIRST s for at most `timeout` s
        (quit, `muxtui send`); returns the replies still unsaved."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while not await self._save_all():
            left = deadline - loop.time()
            if left <= 0:
                break
            await asyncio.sleep(min(SAVE_RETRY_FIRST, left))
        return self.unsaved()

    async def _add_user_message(self, ws: Workspace, text: str, queue_ids: list[str]) -> dict:
        msg = {"id": new_id("m"), "role": "user", "content": fix_surrogates(text), "created_at": now()}
        if queue_ids:
            msg["queue_ids"] = queue_ids
        async with ws.io:
            committed = await asyncio.to_thread(ws.store.append, msg)
            ws.messages.append(committed)
            if queue_ids:
                ws.queue = [q for q in ws.queue if q["id"] not in set(queue_ids)]
                await asyncio.to_thread(ws.store.save_queue, list(ws.queue))
        self._emit(ev.MESSAGE_ADDED, ws.info.id, message=committed)
        if queue_ids:
            self._emit(ev.QUEUE_CHANGED, ws.info.id, items=list(ws.queue))
        return committed

    async def _truncate(self, ws: Workspace, from_seq: int) -> None:
        async with ws.io:
            ws.epoch += 1
            await asyncio.to_thread(ws.store.append_truncate, from_seq)
            await asyncio.to_thread(ws.store.clear_partial)
            ws.messages = [m for m in ws.messages if m.get("seq", from_seq) < from_seq]
        self._emit(ev.HISTORY_TRUNCATED, ws.info.id, from_seq=from_seq)

    async def _stop_task(self, ws: Workspace) -> None:
        """Cancel the running stream and wait until it has fully exited and committed."""
        task = ws.task
        if task is None or task.done():
            return
        run = ws.run
        if run is not None:
            run.interrupted = True
        if run is not None and not run.entered:
            # Cancelling a task before its first step would skip its try/finally: no close, no
            # unlock. Let it start; it sees `interrupted` and closes through the normal path.
            pass
        else:
            task.cancel()
        await asyncio.wait({task})

    def _start(self, ws: Workspace, prefill: str | None = None, reasoning: str = "") -> Run:
        run = self._new_run(ws)
        if prefill:
            run.prefill = prefill
            run.content.append(prefill)
            if reasoning:
                run.reasoning.append(reasoning)
        ws.run = run
        ws.task = asyncio.get_running_loop().create_task(self._run_turns(ws, run), name=f"stream-{ws.info.id}")
        self._emit_started(ws, run)
        return run

    def _emit_started(self, ws: Workspace, run: Run) -> None:
        self._emit(ev.STREAM_STARTED, ws.info.id, request_id=run.request_id, message_id=run.message_id,
                   model=run.model)

    def _new_run(self, ws: Workspace) -> Run:
        return Run(request_id=new_id("r"), message_id=new_id("m"), model=ws.info.model, epoch=ws.epoch,
                   text_filter=StreamRedactor(self._secrets), reasoning_filter=StreamRedactor(self._secrets))

    async def _run_turns(self, ws: Workspace, run: Run) -> None:
        run.entered = True
        try:
            while True:
                status = await self._run_turn(ws, run)
                if (status != "complete" or run.interrupted or not ws.queue or ws.deleted or self._closed
                        or run.epoch != ws.epoch):
                    return
                # Point 7: the turn completed, so the queue goes out as one merged message. The
                # commit runs to the end even if a stop arrives, so memory and disk agree.
                items = list(ws.queue)
                try:
                    await _finish_regardless(
                        self._add_user_message(ws, "\n\n".join(q["text"] for q in items), [q["id"] for q in items]))
                except OSError as exc:  # disk full: the queue stays as it is, on disk and on screen
                    self._emit(ev.WARNING, ws.info.id, text=f"cannot send the queued messages: {_why(exc)}; "
                               "they stay queued")
                    return
                if run.interrupted or self._closed:
                    return
                run = self._new_run(ws)
                run.entered = True
                ws.run = run
                self._emit_started(ws, run)
        except Exception:  # a bug: the turn still ends (below), and the task ends quietly
            log.exception("stream task failed")
        finally:
            ws.store.unlock_stream()
            if not run.closed:
                self._close_fallback(ws, run)

    def _close_fallback(self, ws: Workspace, run: Run) -> None:
        """Last resort, for a bug in the close path: the UI still stops its spinner, and the
        text goes to the save loop like a reply the disk refused."""
        run.closed = True
        message = {"id": run.message_id, "role": "assistant", "content": run.text, "created_at": now(),
                   "model": run.model, "status": "error", "request_id": run.request_id,
                   "error_type": str(ErrorType.UNKNOWN), "error": "internal error while closing the reply"}
        current = not ws.deleted and run.epoch == ws.epoch
        if current and not any(m.get("id") == run.message_id for m in ws.messages):
            ws.pending[run.message_id] = dict(message)
            message["unsaved"] = True
            ws.messages.append(message)
            with contextlib.suppress(RuntimeError):
                self._ensure_saver()
        self._emit(ev.STREAM_ERROR, ws.info.id, request_id=run.request_id, message=message, persisted=False,
                   stale=not current)

    async def _run_turn(self, ws: Workspace, run: Run) -> str:
        run.partial = PartialWriter(
            self.config.stream.partial_interval_ms / 1000,
            lambda snap, store=ws.store, run=run, ws=ws: self._write_partial(ws, run, snap),
            lambda: self._partial_snapshot(run),
        )
        try:
            await self._attempts(ws, run)
        except asyncio.CancelledError:
            await _finish_regardless(self._close(ws, run, "interrupted", None))
            raise
        except StreamError as exc:
            if run.interrupted:
                await _finish_regardless(self._close(ws, run, "interrupted", None))
                return "interrupted"
            await _finish_regardless(self._close(ws, run, "error", exc))
            return "error"
        except Exception as exc:  # a bug must still end in a persisted message, never a spinner
            log.exception("stream failed unexpectedly")
            err = StreamError(ErrorType.UNKNOWN, f"internal error: {type(exc).__name__}: {exc}")
            await _finish_regardless(self._close(ws, run, "error", err))
            return "error"
        if run.interrupted or run.paused:
            await _finish_regardless(self._close(ws, run, "interrupted", None))
            return "interrupted"
        await _finish_regardless(self._close(ws, run, "complete", None))
        return "complete"

    def _model_chain(self, model: str) -> list[str]:
        chain = [model]
        for m in self.config.fallbacks.get(model, []):
            if m not in chain:
                chain.append(m)
        return chain

    async def _attempts(self, ws: Workspace, run: Run) -> None:
        cfg = self.config.stream
        chain = self._model_chain(run.model)
        last: StreamError | None = None
        for index, model in enumerate(chain):
            if index:
                self._emit(ev.STREAM_FALLBACK, ws.info.id, request_id=run.request_id, from_model=run.model,
                           to_model=model, error_type=str(last.error_type) if last else None)
                run.model = model
            for attempt in range(1, max(1, cfg.retry_attempts) + 1):
                if run.interrupted:
                    return
                run.attempt += 1
                try:
                    await self._attempt(ws, run, model)
                    return
                except StreamError as exc:
                    last = exc
                    if run.interrupted or run.has_output:
                        # Never silently throw away text the user has already seen.
                        raise
                    self._audit(ws, run, "error", exc, model)
                    if not exc.retryable or attempt >= cfg.retry_attempts:
                        break
                    if exc.retry_after and exc.retry_after > cfg.retry_after_max:
                        # Waiting an hour inside a turn looks like a hang: end the turn now; the
                        # error message carries `retry_at` so the client can count down or wait.
                        break
                    delay = min(cfg.retry_max_delay, cfg.retry_base_delay * 2 ** (attempt - 1))
                    delay *= 0.75 + 0.5 * self._rng.random()
                    if exc.retry_after:
                        delay = max(delay, exc.retry_after)
                    self._emit(ev.STREAM_RETRYING, ws.info.id, request_id=run.request_id, attempt=attempt + 1,
                               delay=round(delay, 2), retry_at=round(now() + delay, 3),
                               error_type=str(exc.error_type), error=self._clean(exc.message))
                    await self.sleep(delay)
            assert last is not None
            if last.error_type not in self.config.fallback_on or index + 1 >= len(chain):
                last.audited = True  # type: ignore[attr-defined]
                raise last
        raise last or StreamError(ErrorType.UNKNOWN, "no model to try")

    def _provider_for(self, model: str) -> tuple[Any, str]:
        try:
            provider_name, model_name = split_model(model)
        except ValueError as exc:
            raise StreamError(ErrorType.CONFIG, str(exc), retryable=False) from None
        pc = self.config.providers.get(provider_name)
        if pc is None:
            known = ", ".join(sorted(self.config.providers))
            raise StreamError(ErrorType.CONFIG,
                              f"unknown provider '{provider_name}' (known: {known}); add [providers.{provider_name}] "
                              "to config.toml", retryable=False, provider=provider_name)
        if pc.needs_key and not pc.resolve_key():
            raise StreamError(ErrorType.AUTHENTICATION,
                              f"no API key: set {pc.api_key_env} or api_key_env in config.toml",
                              retryable=False, provider=provider_name)
        provider = self._providers.get(provider_name)
        if provider is None:
            try:
                provider = self._factory(pc, self.config)
            except StreamError:
                raise
            except Exception as exc:
                raise StreamError(ErrorType.CONFIG, f"provider '{provider_name}': {exc}", retryable=False,
                                  provider=provider_name) from None
            self._providers[provider_name] = provider
        return provider, model_name

    def _context(self, ws: Workspace) -> list[ChatMessage]:
        out: list[ChatMessage] = []
        for m in ws.messages:
            content = m.get("content") or ""
            if not content.strip() and isinstance(m.get("refusal"), str):
                content = m["refusal"]  # the model's refusal is what it said on that turn
            if not content.strip():
                continue
            role = m["role"]
            if out and out[-1].role == role:  # providers want alternating turns
                out[-1] = ChatMessage(role, out[-1].content + "\n\n" + content)
            else:
                out.append(ChatMessage(role, content))
        return out

    async def _attempt(self, ws: Workspace, run: Run, model: str) -> None:
        cfg = self.config.stream
        run.attempt_started = time.monotonic()  # type: ignore[attr-defined]
        run.stats = None  # type: ignore[attr-defined]
        if not run.has_output:  # what a failed attempt reported (usage, finish reason) is not this one's
            run.usage.clear()
            run.finish_reason = run.stop_detail = None
            run.citations.clear()
        provider, model_name = self._provider_for(model)
        messages = self._context(ws)
        if not messages:
            raise StreamError(ErrorType.API, "nothing to send: the conversation is empty", retryable=False)
        pc = self.config.providers[split_model(model)[0]]
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            await prepare()
        settings = self.effective_settings(ws.info.id)
        request = StreamRequest(
            model=model_name, messages=messages, max_tokens=settings.get("max_tokens") or pc.max_tokens,
            system=settings.get("system_prompt"), temperature=settings.get("temperature"),
            reasoning_effort=settings.get("reasoning_effort"), thinking_budget=settings.get("thinking_budget"),
            prefill=run.prefill,
        )
        run.stats = request.stats  # type: ignore[attr-defined]
        finished = False
        ws_id = ws.info.id
        try:
            async with asyncio.timeout(cfg.total_timeout):
                async with contextlib.aclosing(provider.stream(request)) as items:
                    async for item in items:
                        if isinstance(item, TextDelta):
                            text = run.text_fix.feed(item.text) if item.text else ""
                            text = run.text_filter.feed(text) if text else ""
                            if not text:
                                continue
                            self._add_text(ws_id, run, text)
                        elif isinstance(item, ReasoningDelta):
                            text = run.reasoning_fix.feed(item.text) if item.text else ""
                            text = run.reasoning_filter.feed(text) if text else ""
                            if not text:
                                continue
                            self._add_reasoning(ws_id, run, text)
                        elif isinstance(item, UsageUpdate):
                            for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"):
                                value = getattr(item, name)
                                if value is not None:
                                    run.usage[name] = value
                        elif isinstance(item, Finish):
                            if item.reason or not run.finish_reason:
                                run.finish_reason = item.reason
                            finished = True
                        elif isinstance(item, StopReason):
                            run.finish_reason = item.reason
                            run.stop_detail = item.detail or run.stop_detail
                        elif isinstance(item, RefusalDelta):
                            if not item.text:
                                continue
                            run.refusal.append(item.text)
                            self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, refusal=item.text)
                            run.partial.poke()
                        elif isinstance(item, ToolCallDelta):
                            run.add_tool_call(item)
                            self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, tool_calls=True)
                            run.partial.poke()
                        elif isinstance(item, Citation):
                            if all(c["url"] != item.url for c in run.citations):
                                run.citations.append({"url": item.url, **({"title": item.title} if item.title else {})})
                        if run.partial.failed is not None:
                            raise StreamError(ErrorType.WRITE_FAILED,
                                              f"cannot write the partial reply: {_why(run.partial.failed)}",
                                              retryable=False)
        except TimeoutError:
            raise StreamError(ErrorType.TIMEOUT, f"the reply took longer than total_timeout ({cfg.total_timeout:g} s)",
                              provider=pc.name) from None
        except StreamError as exc:
            exc.provider = exc.provider or pc.name
            raise
        except BaseExceptionGroup as group:  # anyio/httpcore can wrap connect failures in a group
            leaf = _first_leaf(group)
            if isinstance(leaf, asyncio.CancelledError):
                raise leaf from None
            if isinstance(leaf, StreamError):
                raise leaf from None
            kind = ErrorType.CONFIG if isinstance(leaf, (OverflowError, ValueError)) else ErrorType.NETWORK
            hint = f" (check base_url of provider '{pc.name}')" if kind == ErrorType.CONFIG else ""
            raise StreamError(kind, f"{type(leaf).__name__}: {leaf}{hint}", provider=pc.name,
                              retryable=kind == ErrorType.NETWORK) from None
        except (OSError, ValueError) as exc:  # a provider bug or odd transport error: still classified
            raise StreamError(ErrorType.UNKNOWN, f"{type(exc).__name__}: {exc}", provider=pc.name) from None
        self._flush_filters(ws_id, run)
        if run.interrupted:
            return
        if not finished:
            raise StreamError(ErrorType.STREAM_TRUNCATED, "the stream ended before the provider's end marker",
                              provider=pc.name)
        reason = run.finish_reason
        if reason in FINISH_ERRORS:
            kind, what = FINISH_ERRORS[reason]
            detail = f": {run.stop_detail}" if run.stop_detail else ""
            raise StreamError(kind, f"{what} (finish reason '{reason}'){detail}", retryable=False, provider=pc.name)
        if run.refusal:
            # OpenAI's refusal field: the model declined. Its text is kept and shown (``refusal``).
            raise StreamError(ErrorType.MODEL_REFUSAL, "the model refused", retryable=False, provider=pc.name)
        if reason in PAUSE_REASONS:
            run.paused = True
            return
        if not run.content_len and not run.reasoning and not run.tool_calls and not run.prefill:
            raise StreamError(ErrorType.EMPTY_OUTPUT, "the model returned an empty reply", provider=pc.name)

    def _add_text(self, ws_id: str, run: Run, text: str) -> None:
        run.content.append(text)
        run.content_len += len(text)
        self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, text=text)
        run.partial.poke()

    def _add_reasoning(self, ws_id: str, run: Run, text: str) -> None:
        run.reasoning.append(text)
        self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, reasoning=text)
        run.partial.poke()

    def _flush_held(self, ws_id: str, run: Run) -> None:
        """A high surrogate held back at the end of the stream has no partner: U+FFFD."""
        if (tail := run.reasoning_fix.flush()) and (tail := run.reasoning_filter.feed(tail)):
            self._add_reasoning(ws_id, run, tail)
        if (tail := run.text_fix.flush()) and (tail := run.text_filter.feed(tail)):
            self._add_text(ws_id, run, tail)

    # ---- durability ---------------------------------------------------------------------
    def _flush_filters(self, ws_id: str, run: Run) -> None:
        """The stream has ended: the tail held back in case it began a secret is text after all."""
        text, reasoning = run.text_filter.flush(), run.reasoning_filter.flush()
        if reasoning:
            run.reasoning.append(reasoning)
            self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, reasoning=reasoning)
        if text:
            run.content.append(text)
            run.content_len += len(text)
            self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, text=text)

    def _partial_snapshot(self, run: Run, **extra: Any) -> dict:
        snap = {
            "request_id": run.request_id,
            "message_id": run.message_id,
            "model": run.model,
            "content": run.text,
            "created_at": now(),
            "status": "streaming",
        }
        if run.reasoning:
            snap["reasoning"] = run.reasoning_text
        if run.usage:
            snap["usage"] = dict(run.usage)
        snap.update(run.typed_parts())
        snap.update(extra)
        return snap

    def _write_partial(self, ws: Workspace, run: Run, snap: dict) -> None:
        # Runs in a thread. The epoch check makes a stale stream's late write a no-op (point 6).
        if ws.deleted or run.epoch != ws.epoch:
            return
        ws.store.write_partial(snap)

    async def _close(self, ws: Workspace, run: Run, status: str, err: StreamError | None) -> None:
        """Points 2-4 and 10: await the pending partial write, make the state durable, then
        emit. Whatever fails on the way, the close event goes out with the text."""
        ws_id = ws.info.id
        self._flush_held(ws_id, run)
        self._flush_filters(ws_id, run)
        stale = ws.deleted or run.epoch != ws.epoch
        final = None if stale else self._partial_snapshot(run, status=status)
        if final is not None and err is not None:
            final.update(error_type=str(err.error_type), error=self._clean(err.message), finish_reason=run.finish_reason)
        try:
            await run.partial.close(final)
        except Exception as exc:  # the writer keeps its own failures; a bug here must not skip the commit
            log.exception("closing the partial writer failed")
            run.partial.failed = run.partial.failed or exc
        message: dict[str, Any] = {
            "id": run.message_id,
            "role": "assistant",
            "content": run.text,
            "created_at": now(),
            "model": run.model,
            "status": status,
            "request_id": run.request_id,
        }
        if run.reasoning:
            message["reasoning"] = run.reasoning_text
        if run.usage:
            message["usage"] = dict(run.usage)
        message.update(run.typed_parts())
        if run.finish_reason:
            message["finish_reason"] = run.finish_reason
        if err is not None:
            message.update(error_type=str(err.error_type), error=self._clean(err.message), retryable=err.retryable)
            if err.status:
                message["http_status"] = err.status
            if err.retry_after:  # the provider said when to come back (Retry-After)
                message.update(retry_after=err.retry_after, retry_at=round(now() + err.retry_after, 3))
        if run.partial.failed is not None and status == "complete":
            # The last partial write failed after the final chunk; the commit below decides.
            self._emit(ev.WARNING, ws_id, text=f"could not write the partial reply: {_why(run.partial.failed)}")
        persisted = False
        unsaved = False
        try:
            async with ws.io:
                stale = ws.deleted or run.epoch != ws.epoch
                try:
                    if stale:
                        await asyncio.to_thread(self._clear_stale_partial, ws, run)
                    else:
                        try:
                            committed = await asyncio.to_thread(ws.store.append, message)
                        except Exception as exc:
                            # Disk full, read-only, or a bug: the text stays in memory and on
                            # screen, the partial file stays, nothing already on disk is touched,
                            # and the save loop writes it as soon as the disk takes it.
                            ws.pending[message["id"]] = dict(message)
                            unsaved = True
                            write_err = StreamError(ErrorType.WRITE_FAILED, f"cannot save the reply: {_why(exc)}",
                                                    retryable=False)
                            if err is None:
                                err = write_err
                                status = "error"
                            message.update(status="error", error_type=str(err.error_type),
                                           error=self._clean(err.message))
                            message["unsaved"] = True
                            self._ensure_saver()
                        else:
                            message = committed
                            persisted = True
                            await asyncio.to_thread(ws.store.clear_partial)
                finally:
                    ws.messages.append(message)
            if persisted:
                info = await asyncio.to_thread(
                    self.storage.update_workspace, ws_id, last_activity=now(), last_status=message["status"],
                    last_error_type=message.get("error_type"))
                # Only the activity fields: a rename or model change made meanwhile must stand.
                ws.info.last_activity = info.last_activity
                ws.info.last_status = info.last_status
                ws.info.last_error_type = info.last_error_type
        except Exception:  # bookkeeping only (the message is durable), or a bug: still emit
            log.exception("closing a stream failed after its commit")
        finally:
            try:
                if not getattr(err, "audited", False) or status != "error" or unsaved:
                    self._audit(ws, run, status, err, run.model, unsaved=unsaved)
            except Exception:
                log.exception("auditing a stream close failed")
            run.closed = True
            type_ = {"complete": ev.STREAM_COMPLETE, "interrupted": ev.STREAM_INTERRUPTED}.get(status, ev.STREAM_ERROR)
            self._emit(type_, ws_id, request_id=run.request_id, message=message, persisted=persisted, stale=stale)

    def _clear_stale_partial(self, ws: Workspace, run: Run) -> None:
        partial = ws.store.read_partial()
        if partial and partial.get("request_id") == run.request_id:
            ws.store.clear_partial()

    def _clean(self, text: str) -> str:
        return self.log.redact(text or "")

    def _record_close(self, record: dict[str, Any]) -> None:
        """Audit one close; a record the disk refuses is held by the log and the save loop
        writes it once there is room."""
        if not self.log.record_close(record):
            with contextlib.suppress(RuntimeError):  # no running loop: the next append retries it
                self._ensure_saver()

    def _audit(self, ws: Workspace, run: Run, status: str, err: StreamError | None, model: str, *,
               unsaved: bool = False) -> None:
        stats = getattr(run, "stats", None)
        if status == "complete":
            kind = "complete"
        elif status == "interrupted":
            kind = "interrupted"
        elif err is not None and err.error_type == ErrorType.STREAM_TRUNCATED:
            kind = "premature_close"
        elif unsaved or (err is not None and err.error_type == ErrorType.WRITE_FAILED):
            kind = "write_failed"
        elif (stats is None or stats.upstream_status is None) and not run.content_len and not getattr(stats, "events", 0):
            kind = "bootstrap_failure"
        else:
            kind = "upstream_error"
        started = getattr(run, "attempt_started", run.started)
        record = {
            "ts": now(),
            "request_id": run.request_id,
            "upstream_request_id": getattr(stats, "request_id", None),
            "workspace": ws.info.id,
            "model": model,
            "provider": _provider_of(model),
            "close_kind": kind,
            "error_type": str(err.error_type) if err else None,
            "error": self._clean(err.message) if err else None,
            "events": getattr(stats, "events", 0),
            "bytes": getattr(stats, "bytes", 0),
            "chars": run.content_len,
            "upstream_status": getattr(stats, "upstream_status", None) or (err.status if err else None),
            "duration": round(time.monotonic() - started, 4),
            "attempt": run.attempt,
            "format": FORMAT_VERSION,
        }
        if unsaved:
            record["unsaved"] = True
        self._record_close(record)


def _why(exc: BaseException) -> str:
    """A write failure in a user's words: "No space left on device", not a repr."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _provider_of(model: str | None) -> str | None:
    if not model:
        return None
    return model.partition(":")[0] or None
