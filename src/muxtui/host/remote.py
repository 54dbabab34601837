"""RemoteEngine: the engine's client API over the engine host's socket.

What it owns: finding the engine (and starting one, muxtui.host.spawn) or reaching one through a
command's stdin/stdout (``via=ssh_command("me@box")``: ``muxtui engine --stdio`` there), the hello (a protocol
mismatch is an EngineVersionMismatch whose message says what to do), request/response matching,
the one event subscription of this client, and reconnecting: when the link drops, requests in
flight fail with EngineGone, and the client reconnects (starting a new engine if the old one died)
and resubscribes from the last ``seq`` it applied, so its listener gets every event exactly once
(or a snapshot, when the engine restarted or the gap fell out of its replay buffer).

It has the command methods of the in-process Engine (``await remote.send(workspace=..., text=...)``),
taken from api.COMMANDS, each encoded and decoded by its Command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muxtui import __version__
from muxtui.host import protocol as p
from muxtui.host.paths import HostPaths
from muxtui.host.spawn import START_TIMEOUT, EngineStartError, SpawnLock, resolve_home, spawn_detached
from muxtui.paths import Paths

log = logging.getLogger("muxtui.host.remote")


def _commands() -> Any:
    # Imported on first use: `muxtui engine status` and `stop` need no command table (start-up
    # time); the table itself is the client API's, without the engine behind it.
    from muxtui.client import COMMANDS

    return COMMANDS


def _event_class() -> Any:
    # The typed events: imported when the first one arrives (a `muxtui workspaces` sees none).
    from muxtui.client import Event

    return Event

HELLO_TIMEOUT = 10.0  # an engine that accepts but does not answer hello is wedged
STDERR_LINES = 20  # the last lines a remote command said on stderr, for a failure message
RECONNECT_ATTEMPTS = 8
RECONNECT_FIRST_DELAY = 0.05
RECONNECT_MAX_DELAY = 1.0
# Exceptions a command may raise in the engine that the client raises as themselves.
_BUILTIN_ERRORS: dict[str, type[Exception]] = {"KeyError": KeyError, "ValueError": ValueError,
                                                "PermissionError": PermissionError}


class EngineGone(ConnectionError):
    """The link to the engine dropped (or never came up)."""


class EngineVersionMismatch(Exception):
    def __init__(self, message: str, data: dict[str, Any] | None):
        super().__init__(message)
        self.data = data or {}

    @property
    def engine_idle(self) -> bool:
        """No stream runs there: restarting it loses nothing (the client may offer to)."""
        return not self.data.get("streams")


class CommandError(Exception):
    """A command the engine refused, of a kind the client has no class for."""

    def __init__(self, message: str, kind: str | None):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Snapshot:
    """The engine's state at ``seq``; events after it follow."""

    seq: int
    data: dict[str, Any]


Listener = Callable[[Any], None]


async def open_socket(paths: Paths) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a running engine; EngineGone when none listens."""
    path = HostPaths.of(paths).socket
    try:
        return await asyncio.open_unix_connection(str(path), limit=p.READ_CHUNK)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise EngineGone(f"no muxtui engine is listening on {path}") from exc
    except OSError as exc:
        raise EngineGone(f"cannot reach the muxtui engine on {path}: {exc.strerror or exc}") from exc


async def connect_local(paths: Paths, home: Path | None, spawn: bool
                        ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int | None]:
    """A link to this user's engine, starting one (detached) when none listens and `spawn`.
    Returns the streams and the pid of the engine started, if one was."""
    try:
        reader, writer = await open_socket(paths)
        return reader, writer, None
    except EngineGone:
        if not spawn:
            raise
    async with SpawnLock(HostPaths.of(paths)):
        try:  # another client may have started one while we waited for the lock
            reader, writer = await open_socket(paths)
            return reader, writer, None
        except EngineGone:
            pid = await asyncio.to_thread(spawn_detached, paths, home, START_TIMEOUT)
        reader, writer = await open_socket(paths)
        return reader, writer, pid


def ssh_command(target: str, ssh: str = "ssh") -> list[str]:
    """The command that reaches `target`'s engine over SSH's own stdio (no port, no password of
    ours): ``ssh -T target muxtui engine --stdio``. BatchMode: a client must not hang on a prompt."""
    return [ssh, "-T", "-o", "BatchMode=yes", target, "muxtui", "engine", "--stdio"]


class RemoteEngine:
    def __init__(self, paths: Paths | None, *, home: str | os.PathLike | None = None, spawn: bool = True,
                 reconnect: bool = True, client_name: str = "muxtui",
                 on_link: Callable[[str], None] | None = None, via: list[str] | None = None):
        """`paths`: this user's engine over its unix socket. `via`: instead, a command whose
        stdin/stdout speak the protocol, e.g. ssh_command("me@box") (then `paths` may be None)."""
        if paths is None and via is None:
            raise ValueError("RemoteEngine needs paths (a local engine) or via (a command reaching one)")
        self.paths = paths
        self.via = via
        self._proc: asyncio.subprocess.Process | None = None
        self._proc_errors: deque[str] = deque(maxlen=STDERR_LINES)
        self._stderr_task: asyncio.Task | None = None
        self.home: Path | None = resolve_home(home)
        self.spawn = spawn
        self.reconnect = reconnect
        self.client_name = client_name
        # "lost" (link dropped, reconnecting), "restored" (same engine), "replaced" (a new
        # engine), "failed" (gave up), "closed:<reason>" (the engine said it is stopping: no
        # reconnect then, since someone stopped it on purpose; reconnect_now() starts a new one).
        self.on_link = on_link or (lambda state: None)
        self.engine_info: dict[str, Any] = {}
        self.last_seq = 0
        self.duplicates = 0  # events that arrived twice and were not applied (should stay 0)
        self.undecodable = 0  # events this client could not read (should stay 0)
        self.spawned_pid: int | None = None
        self.resubscribed: list[dict[str, Any]] = []  # the engine's answers to our resubscribes
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._listener: Listener | None = None
        self._on_snapshot: Callable[[Snapshot], None] | None = None
        self._closing = False
        self.closed_reason: str | None = None
        self._link_up = asyncio.Event()
        self._state = asyncio.Event()  # pulsed when the link or a reconnect changes
        self.link_failed = False

    # ---- connecting ----------------------------------------------------------------------
    async def start(self, *, hello: bool = True) -> "RemoteEngine":
        """Connect (starting an engine if allowed). hello=False: a bare link, for engine.status
        and engine.stop, which answer whatever protocol the client speaks."""
        await self._connect(hello=hello)
        return self

    def _where(self) -> str:
        if self.via is not None:
            return "`" + " ".join(self.via) + "`"
        assert self.paths is not None
        return f"socket {HostPaths.of(self.paths).socket}"

    async def _open_command(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.via is not None
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.via, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, limit=p.READ_CHUNK, start_new_session=True)
        except OSError as exc:
            raise EngineGone(f"cannot run {self._where()}: {exc.strerror or exc}") from None
        self._proc = proc
        self._proc_errors.clear()
        self._stderr_task = asyncio.create_task(self._read_stderr(proc))
        assert proc.stdout is not None and proc.stdin is not None
        return proc.stdout, proc.stdin

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        # Drained so the remote side never blocks on it; the last lines explain a failure.
        assert proc.stderr is not None
        with contextlib.suppress(Exception):
            while line := await proc.stderr.readline():
                self._proc_errors.append(line.decode(errors="replace").rstrip())

    async def _command_failure(self) -> str:
        proc, task = self._proc, self._stderr_task
        if proc is not None and task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 2.0)
        said = "; ".join(line for line in self._proc_errors if line)
        return f"{self._where()} ended" + (f": {said}" if said else "")

    async def _connect(self, *, hello: bool = True) -> None:
        if self.via is not None:
            reader, writer = await self._open_command()
        else:
            assert self.paths is not None
            reader, writer, pid = await connect_local(self.paths, self.home, self.spawn)
            self.spawned_pid = pid or self.spawned_pid
        self._reader, self._writer = reader, writer
        self._read_task = asyncio.create_task(self._read_loop(reader))
        if not hello:
            self._link_up.set()
            return
        try:
            info = await asyncio.wait_for(
                self.call("hello", {"protocol": p.PROTOCOL_VERSION, "version": f"muxtui {__version__}",
                                    "client": self.client_name}), HELLO_TIMEOUT)
        except p.ProtocolError as exc:
            await self._drop_link()
            if exc.code == p.VERSION_MISMATCH:
                raise EngineVersionMismatch(exc.message, exc.data) from None
            raise
        except EngineGone:
            why = await self._command_failure() if self.via is not None else None
            await self._drop_link()
            if why is None:
                raise
            raise EngineGone(f"cannot reach the muxtui engine: {why}") from None
        except asyncio.TimeoutError:
            await self._drop_link()
            raise EngineGone(f"the muxtui engine ({self._where()}) does not answer: stop it "
                             f"(`muxtui engine stop`, or kill its pid)") from None
        self.engine_info = info
        self._link_up.set()

    async def close(self) -> None:
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
            with contextlib.suppress(BaseException):
                await self._reconnect_task
        await self._drop_link()

    async def _drop_link(self) -> None:
        self._link_up.clear()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        task, self._read_task = self._read_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        self._fail_pending("the connection to the muxtui engine was closed")
        await self._end_process()

    async def _end_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5.0)
        if self._stderr_task is not None:
            self._stderr_task.cancel()
            self._stderr_task = None

    def abort_link(self) -> None:
        """Drop the link at once, as a network failure would (tests, and the app on SIGHUP)."""
        self._link_up.clear()
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()  # the ssh (or other) process: its pipes close with it
        elif self._writer is not None:
            self._writer.transport.abort()

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(EngineGone(why))

    # ---- requests ------------------------------------------------------------------------
    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        writer = self._writer
        if writer is None or writer.transport.is_closing():
            raise EngineGone("not connected to the muxtui engine")
        self._next_id += 1
        id_ = self._next_id
        fut = asyncio.get_running_loop().create_future()
        self._pending[id_] = fut
        try:
            writer.write(p.dumps(p.request(id_, method, params if params is not None else {})))
            await writer.drain()
        except (ConnectionError, OSError) as exc:
            self._pending.pop(id_, None)
            raise EngineGone(f"the connection to the muxtui engine dropped: {exc}") from None
        try:
            return await fut
        finally:
            self._pending.pop(id_, None)

    async def command(self, command_name: str, /, **kwargs: Any) -> Any:
        cmd = _commands()[command_name]
        try:
            raw = await self.call(command_name, kwargs)
        except p.ProtocolError as exc:
            kind = (exc.data or {}).get("type") if isinstance(exc.data, dict) else None
            if exc.code == p.COMMAND_FAILED:
                message = exc.message.split(": ", 1)[1] if ": " in exc.message else exc.message
                if kind in _BUILTIN_ERRORS:
                    raise _BUILTIN_ERRORS[kind](message) from None
                raise CommandError(message, kind) from None
            raise
        return cmd.decode(raw)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in _commands():
            raise AttributeError(name)

        async def command(**kwargs: Any) -> Any:
            return await self.command(name, **kwargs)

        command.__name__ = name
        return command

    async def snapshot(self, workspace: str | None = None) -> dict[str, Any]:
        return await self.call("snapshot", {} if workspace is None else {"workspace": workspace})

    async def status(self) -> dict[str, Any]:
        return await self.call("engine.status")

    async def stop_engine(self) -> dict[str, Any]:
        """Ask the engine to stop (partials committed as interrupted); returns once it has."""
        self._closing = True
        return await self.call("engine.stop")

    # ---- events --------------------------------------------------------------------------
    async def subscribe(self, listener: Listener, since_seq: int | None = None, *, engine_id: str | None = None,
                        on_snapshot: Callable[[Snapshot], None] | None = None) -> Callable[[], None]:
        """Deliver every event after `since_seq` (None: a snapshot first) to `listener`, in seq
        order, once each, across reconnects. `engine_id`: the engine `since_seq` counts in
        (default: the one connected now); another engine's seq gets a snapshot. A snapshot
        goes to `on_snapshot`, else to `listener` as a Snapshot. Returns when the backlog has
        been delivered."""
        if self._listener is not None:
            raise RuntimeError("this RemoteEngine already has a subscription")
        self._listener = listener
        self._on_snapshot = on_snapshot
        if since_seq is not None:
            self.last_seq = since_seq
        await self._subscribe(since_seq, engine_id or self.engine_info.get("engine_id"))

        def unsubscribe() -> None:
            self._listener = None
            if self._writer is not None and not self._closing:
                asyncio.ensure_future(self._quiet(self.call("unsubscribe")))

        return unsubscribe

    async def _subscribe(self, since_seq: int | None, engine_id: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if since_seq is not None:
            params = {"since_seq": since_seq, "engine_id": engine_id}
        return await self.call("subscribe", params)

    @staticmethod
    async def _quiet(coro: Any) -> None:
        with contextlib.suppress(Exception):
            await coro

    def _deliver(self, event: Any) -> None:
        if self._listener is None:
            return
        try:
            self._listener(event)
        except Exception:  # a broken listener must not break the link
            log.exception("event listener failed")

    def _on_notification(self, method: str, params: dict[str, Any]) -> None:
        if method == "events":
            event_class = _event_class()
            for raw in params.get("events", ()):
                seq = raw.get("seq", 0)
                if seq <= self.last_seq:
                    self.duplicates += 1
                    continue
                self.last_seq = seq
                try:
                    event = event_class.from_dict(raw)
                except Exception as exc:  # an engine of another build: say so, keep the link
                    self.undecodable += 1
                    log.error("event %s (seq %s) not understood: %s", raw.get("type"), seq, exc)
                    continue
                self._deliver(event)
            self.last_seq = max(self.last_seq, params.get("seq", 0))
        elif method == "snapshot":
            snap = Snapshot(params["seq"], params)
            self.last_seq = snap.seq
            if self._on_snapshot is not None:
                try:
                    self._on_snapshot(snap)
                except Exception:
                    log.exception("snapshot listener failed")
            else:
                self._deliver(snap)
        elif method == "engine.closing":
            self.closed_reason = params.get("reason", "stopped")
            self.on_link(f"closed:{self.closed_reason}")

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        lines = p.LineReader(reader)
        try:
            while True:
                try:
                    line = await lines.readline()
                except p.LineTooLong as exc:
                    log.error("engine sent an oversized message: %s", exc)
                    continue
                if line is None:
                    break
                try:
                    msg = p.parse(line)
                except p.ProtocolError as exc:
                    log.error("engine sent a broken message: %s", exc.message)
                    continue
                if "method" in msg:
                    self._on_notification(msg["method"], msg.get("params") or {})
                    continue
                fut = self._pending.get(msg.get("id"))  # type: ignore[arg-type]
                if fut is None or fut.done():
                    if "error" in msg and msg.get("id") is None:
                        log.error("engine: %s", msg["error"].get("message"))
                    continue
                if "error" in msg:
                    err = msg["error"]
                    fut.set_exception(p.ProtocolError(err.get("code", p.INTERNAL_ERROR), err.get("message", "?"),
                                                      err.get("data")))
                else:
                    fut.set_result(msg.get("result"))
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            return
        self._link_up.clear()
        self._fail_pending("the connection to the muxtui engine dropped")
        if not self._closing and self.reconnect and self.closed_reason is None and self._reconnect_task is None:
            self._reconnect_task = asyncio.create_task(self._reconnect())
        self._state.set()

    async def reconnect_now(self) -> None:
        """Connect again (starting an engine if none runs) and resume the subscription."""
        self.closed_reason = None
        self.link_failed = False
        if self._reconnect_task is None:
            self._reconnect_task = asyncio.create_task(self._reconnect())
        await self.wait_connected(RECONNECT_ATTEMPTS * (RECONNECT_MAX_DELAY + START_TIMEOUT))

    async def _reconnect(self) -> None:
        if self.closed_reason is None:
            self.on_link("lost")
        delay = RECONNECT_FIRST_DELAY
        old_engine = self.engine_info.get("engine_id")
        try:
            for attempt in range(RECONNECT_ATTEMPTS):
                if self._closing:
                    return
                writer = self._writer
                self._writer = None
                if writer is not None:
                    writer.close()
                await self._end_process()
                try:
                    await self._connect()
                    if self._listener is not None:
                        self.resubscribed.append(await self._subscribe(self.last_seq, old_engine))
                except (EngineGone, EngineStartError) as exc:
                    log.info("reconnect %d failed: %s", attempt + 1, exc)
                    # Backoff between attempts: a retry delay, not a wait for something to happen.
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_DELAY)
                    continue
                same = self.engine_info.get("engine_id") == old_engine
                self.on_link("restored" if same else "replaced")
                return
            self.link_failed = True
            self.on_link("failed")
        finally:
            self._reconnect_task = None
            self._state.set()

    async def wait_connected(self, timeout: float) -> None:
        """Until the link is up again (after a drop) and resubscribed. EngineGone when reconnecting
        failed or the engine stopped on purpose; TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout):
            while True:
                self._state.clear()
                task = self._reconnect_task
                if task is not None:
                    await asyncio.wait({task})
                    continue
                if self._link_up.is_set():
                    return
                if self.closed_reason is not None:
                    raise EngineGone(f"the muxtui engine stopped ({self.closed_reason})")
                if self.link_failed:
                    raise EngineGone("could not reconnect to the muxtui engine")
                await self._state.wait()  # the read loop has not seen the drop yet
