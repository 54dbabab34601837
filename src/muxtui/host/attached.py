"""AttachedEngine: the app's (and the CLI's) engine when the engine runs in the engine host.

It has the in-process ``Engine``'s surface, so the app cannot tell the two apart: every command
of ``muxtui.client.COMMANDS`` with the same arguments (positional ones too, bound by the
``Engine`` method's signature), ``subscribe`` (many local listeners, one subscription on the link),
and the engine's exceptions raised as themselves (a busy workspace is a ``WorkspaceBusy``).

What differs is what ending means: ``close`` only *detaches*. The replies streaming go on in the
engine, are saved there, and show again when a client attaches. ``stop_streams`` is the explicit
"stop all" of the quit dialog. The link's ups and downs (lost, restored, a new engine after a
crash) reach ``on_link``; a new engine's snapshot reaches ``on_reset``, and the client reloads.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from muxtui.client import COMMANDS, AttachmentError, Engine, Event, ImportError_, StorageError, WorkspaceBusy
from muxtui.host.remote import CommandError, EngineGone, RemoteEngine, Snapshot
from muxtui.paths import Paths

log = logging.getLogger("muxtui.host.attached")

RECONNECT_WAIT = 30.0  # a command waits this long for a dropped link to come back, then fails
# Commands that change nothing: asked again when the link drops while they are in flight. Any
# other command may or may not have run then; it fails (EngineGone, an OSError) and says so.
READ_ONLY = frozenset({
    "list_workspaces", "open_workspace", "peek_workspace", "history", "get_settings", "streaming", "unsaved",
    "pending_writes", "has_partial", "list_trash", "export_workspace", "search", "catch_up_search", "search_ready",
    "storage_warnings", "workspaces_stamp", "error_groups", "models", "context", "logs", "wait_idle", "warm",
})

# Engine exceptions a client catches by class (the engine sends their class name).
_ERRORS: dict[str, type[Exception]] = {"WorkspaceBusy": WorkspaceBusy, "StorageError": StorageError,
                                       "ImportError_": ImportError_, "OSError": OSError,
                                       "RuntimeError": RuntimeError, "AttachmentError": AttachmentError}


class AttachedEngine:
    """See the module docstring."""

    embedded = False

    def __init__(self, paths: Paths, *, spawn: bool = True, remote: RemoteEngine | None = None,
                 on_link: Callable[[str], None] | None = None) -> None:
        self.paths = paths
        self._on_link = on_link or (lambda state: None)
        self.remote = remote or RemoteEngine(paths, spawn=spawn, client_name="muxtui app", on_link=self._link)
        if remote is not None:
            remote.on_link = self._link
        self._listeners: list[Callable[[Event], None]] = []
        self.on_reset: Callable[[], None] = lambda: None
        self._unsubscribe: Callable[[], None] | None = None
        self._attached = False

    # ---- the link ----------------------------------------------------------------------------
    def _link(self, state: str) -> None:
        self._on_link(state)

    def set_on_link(self, callback: Callable[[str], None]) -> None:
        self._on_link = callback

    async def attach(self) -> None:
        """Connect (starting an engine if none runs and spawning is allowed) and follow its
        events from now on. The first command attaches by itself."""
        self._attached = True
        await self.remote.start()
        self._unsubscribe = await self.remote.subscribe(
            self._deliver, since_seq=int(self.remote.engine_info.get("last_seq") or 0),
            on_snapshot=self._snapshot)

    def _deliver(self, event: Any) -> None:
        if isinstance(event, Snapshot):
            self._snapshot(event)
            return
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break the link
                log.exception("event listener failed on %s", getattr(event, "type", "?"))

    def _snapshot(self, snap: Snapshot) -> None:
        # A new engine (the old one died) or a gap too old to replay: what the client shows is
        # stale; it reloads from commands (the snapshot's seq is where events resume).
        self.on_reset()

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def last_seq(self) -> int:
        return self.remote.last_seq

    # ---- life --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Background work is the engine's own (search index, trash): nothing to start here."""

    async def close(self, save_wait: float | None = None) -> None:
        """Detach: the engine and its streams go on."""
        await self.remote.close()

    async def stop_streams(self) -> int:
        """Stop every reply streaming (each saved as interrupted); how many there were."""
        ids = await self.streaming()
        for ws_id in ids:
            await self.interrupt(ws_id)
        return len(ids)

    # ---- commands ----------------------------------------------------------------------------
    async def _linked(self) -> None:
        """Wait (bounded) while the link is down and reconnecting: a request is only sent on a
        live link, so one that never left is never lost."""
        if not self._attached:
            await self.attach()
            return
        if self.remote._link_up.is_set():
            return
        try:
            await self.remote.wait_connected(RECONNECT_WAIT)
        except TimeoutError:
            raise EngineGone("the muxtui engine is not reachable (still reconnecting)") from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in COMMANDS:
            raise AttributeError(name)
        signature = inspect.signature(getattr(Engine, name))

        async def command(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(None, *args, **kwargs)
            params = {k: v for k, v in bound.arguments.items() if k != "self"}
            for attempt in range(2):
                await self._linked()
                try:
                    return await self.remote.command(name, **params)
                except CommandError as exc:
                    cls = _ERRORS.get(exc.kind or "")
                    if cls is not None:
                        raise cls(str(exc)) from None
                    raise
                except EngineGone:
                    if attempt or name not in READ_ONLY:
                        raise
            raise AssertionError("unreachable")

        command.__name__ = name
        return command
