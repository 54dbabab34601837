"""The live state of a workspace and of its turn, and how a turn's text is kept and ends.

Owns ``Workspace`` (what the engine holds in memory for one workspace: history, queue, locks,
epoch, the running task), ``Run`` (one turn: its text so far, usage, tool calls, attempts),
``PartialWriter`` (contract point 2: ``partial.json`` at most every interval, one write in flight,
in a thread), and ``Runs``, which feeds a run's text (deltas; surrogates and secrets held back
at a chunk's end) and closes it (points 3, 4, 6 and 10: await the pending partial write, commit
or keep in memory, audit, then emit the close event, whatever fails on the way).

The contract's numbers are those of muxtui.engine.manager's docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from muxtui.engine import events as ev
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.logs import EventLog
from muxtui.engine.providers.base import ToolCallDelta
from muxtui.engine.redact import StreamRedactor
from muxtui.engine.storage import FORMAT_VERSION, Storage, WorkspaceInfo, WorkspaceStore, now
from muxtui.engine.surrogates import SurrogateJoiner

if TYPE_CHECKING:
    from muxtui.engine.recovery import Saver

log = logging.getLogger("muxtui.manager")

Emit = Callable[..., None]  # StreamManager._emit: (type, workspace id, **data)


async def finish_regardless(coro: Awaitable[Any]) -> Any:
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


def why(exc: BaseException) -> str:
    """A write failure in a user's words: "No space left on device", not a repr."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def provider_of(model: str | None) -> str | None:
    if not model:
        return None
    return model.partition(":")[0] or None


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
    """What the engine holds in memory for one workspace (the files are its WorkspaceStore)."""

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


class Runs:
    """Feeds a run's text and closes it; emits through the manager, audits through the log."""

    def __init__(self, storage: Storage, event_log: EventLog, emit: Emit, saves: Saver):
        self.storage = storage
        self.log = event_log
        self._emit = emit
        self._saves = saves

    def partial_writer(self, ws: Workspace, run: Run, interval: float) -> PartialWriter:
        return PartialWriter(
            interval,
            lambda snap, store=ws.store, run=run, ws=ws: self._write_partial(ws, run, snap),
            lambda: self._partial_snapshot(run),
        )

    # ---- text in ------------------------------------------------------------------------
    def add_text(self, ws_id: str, run: Run, text: str) -> None:
        run.content.append(text)
        run.content_len += len(text)
        self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, text=text)
        run.partial.poke()

    def add_reasoning(self, ws_id: str, run: Run, text: str) -> None:
        run.reasoning.append(text)
        self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, reasoning=text)
        run.partial.poke()

    def _flush_held(self, ws_id: str, run: Run) -> None:
        """A high surrogate held back at the end of the stream has no partner: U+FFFD."""
        if (tail := run.reasoning_fix.flush()) and (tail := run.reasoning_filter.feed(tail)):
            self.add_reasoning(ws_id, run, tail)
        if (tail := run.text_fix.flush()) and (tail := run.text_filter.feed(tail)):
            self.add_text(ws_id, run, tail)

    # ---- durability ---------------------------------------------------------------------
    def flush_filters(self, ws_id: str, run: Run) -> None:
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

    async def close(self, ws: Workspace, run: Run, status: str, err: StreamError | None) -> None:
        """Points 2-4 and 10: await the pending partial write, make the state durable, then
        emit. Whatever fails on the way, the close event goes out with the text."""
        ws_id = ws.info.id
        self._flush_held(ws_id, run)
        self.flush_filters(ws_id, run)
        stale = ws.deleted or run.epoch != ws.epoch
        final = None if stale else self._partial_snapshot(run, status=status)
        if final is not None and err is not None:
            final.update(error_type=str(err.error_type), error=self.clean(err.message), finish_reason=run.finish_reason)
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
            message.update(error_type=str(err.error_type), error=self.clean(err.message), retryable=err.retryable)
            if err.status:
                message["http_status"] = err.status
            if err.retry_after:  # the provider said when to come back (Retry-After)
                message.update(retry_after=err.retry_after, retry_at=round(now() + err.retry_after, 3))
        if run.partial.failed is not None and status == "complete":
            # The last partial write failed after the final chunk; the commit below decides.
            self._emit(ev.WARNING, ws_id, text=f"could not write the partial reply: {why(run.partial.failed)}")
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
                            write_err = StreamError(ErrorType.WRITE_FAILED, f"cannot save the reply: {why(exc)}",
                                                    retryable=False)
                            if err is None:
                                err = write_err
                                status = "error"
                            message.update(status="error", error_type=str(err.error_type),
                                           error=self.clean(err.message))
                            message["unsaved"] = True
                            self._saves.ensure()
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
                    self.audit(ws, run, status, err, run.model, unsaved=unsaved)
            except Exception:
                log.exception("auditing a stream close failed")
            run.closed = True
            type_ = {"complete": ev.STREAM_COMPLETE, "interrupted": ev.STREAM_INTERRUPTED}.get(status, ev.STREAM_ERROR)
            self._emit(type_, ws_id, request_id=run.request_id, message=message, persisted=persisted, stale=stale)

    def close_fallback(self, ws: Workspace, run: Run) -> None:
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
                self._saves.ensure()
        self._emit(ev.STREAM_ERROR, ws.info.id, request_id=run.request_id, message=message, persisted=False,
                   stale=not current)

    def _clear_stale_partial(self, ws: Workspace, run: Run) -> None:
        partial = ws.store.read_partial()
        if partial and partial.get("request_id") == run.request_id:
            ws.store.clear_partial()

    def clean(self, text: str) -> str:
        return self.log.redact(text or "")

    def audit(self, ws: Workspace, run: Run, status: str, err: StreamError | None, model: str, *,
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
            "provider": provider_of(model),
            "close_kind": kind,
            "error_type": str(err.error_type) if err else None,
            "error": self.clean(err.message) if err else None,
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
        self._saves.record_close(record)
