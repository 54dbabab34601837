"""The engine process: one per user (per data folder), serving clients on a unix socket.

What it owns: the socket (0600 in a 0700 folder, peers of another uid dropped via SO_PEERCRED),
the pid file (locked while it runs, so a second engine refuses), the registration file, the
event hub (a ring buffer of the last REPLAY_EVENTS events for reconnecting clients), per-client
outboxes that coalesce stream deltas into one batch per frame, the request dispatch onto the
engine's commands, and the idle exit. The engine itself (storage, streams, recovery) is
muxtui.host.api.Engine; this module never reaches into it past that interface.

Ordering contract (docs/protocol.md): every event a client gets carries the engine's ``seq``;
one ``events`` notification is one batch whose ``seq`` is the last event's, and a client that
has applied a batch resumes from that ``seq``. A batch is one line, so it arrives whole or not at
all: a client whose socket dies mid-line reconnects from the last whole batch, and gets the rest
again from the ring buffer (or a snapshot, when it fell out of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import inspect
import logging
import os
import signal
import socket
import struct
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from muxtui import __version__
from muxtui.config import Config
from muxtui.host import api
from muxtui.host import protocol as p
from muxtui.host.paths import HostPaths, read_registration
from muxtui.paths import Paths

log = logging.getLogger("muxtui.host")

REPLAY_EVENTS = 10_000  # events kept for reconnecting clients; older ones get a snapshot
FRAME = 0.016  # a client gets at most one event batch per frame
BATCH_EVENTS = 1_000  # a replay is cut into batches of at most this many events
MAX_CLIENT_BACKLOG = 32 * 1024 * 1024  # bytes queued for a client that does not read: drop it
MAX_IN_FLIGHT = 64  # requests one client may have running at once (then we stop reading it)
CLOSE_DRAIN = 2.0  # seconds a closing engine waits for each client to take its last bytes
# Methods of the host itself; every other name is a command of the engine (api.COMMANDS).
HOST_METHODS = frozenset({"hello", "subscribe", "unsubscribe", "snapshot", "engine.status", "engine.stop"})
BEFORE_HELLO = frozenset({"hello", "engine.status", "engine.stop"})  # stable across versions


class AlreadyRunning(Exception):
    def __init__(self, pid: int | None):
        super().__init__(f"an engine is already running (pid {pid})" if pid else "an engine is already running")
        self.pid = pid


def peer_allowed(creds: tuple[int, int, int] | None, uid: int) -> bool:
    """SO_PEERCRED's (pid, uid, gid) of a peer: only the engine's own user may connect."""
    return creds is not None and creds[1] == uid


def peer_credentials(sock: socket.socket) -> tuple[int, int, int] | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", raw)


# ---- events ---------------------------------------------------------------------------------
class Item:
    """One event as the hub keeps it: its dict (shared by every client, never mutated). A stream
    delta (one per token: the hot path) keeps its event instead, and makes the dict only if a
    client needs this delta alone; a run of them is merged straight from the events (coalesce)."""

    __slots__ = ("seq", "workspace", "type", "_data", "delta")

    def __init__(self, data: dict[str, Any]):
        seq, kind, ws = data.get("seq"), data.get("type"), data.get("workspace", "")
        if not isinstance(seq, int) or not isinstance(kind, str) or not isinstance(ws, str):
            raise ValueError(f"not an event: seq {seq!r}, type {kind!r}, workspace of type {type(ws).__name__}")
        self._data: dict[str, Any] | None = data
        self.delta: Any = None
        self.seq = seq
        self.workspace = ws
        self.type = kind

    @classmethod
    def of_delta(cls, event: Any) -> "Item":
        """A StreamDelta event, without its dict (see the class docstring)."""
        if type(event.seq) is not int or type(event.workspace) is not str:
            raise ValueError(f"not an event: seq {event.seq!r}, workspace of type {type(event.workspace).__name__}")
        item = cls.__new__(cls)
        item._data = None
        item.delta = event
        item.seq = event.seq
        item.workspace = event.workspace
        item.type = api.DELTA_TYPE
        return item

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self.delta.to_dict()
        return self._data


def _mergeable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """`b` continues the text of delta `a`: same reply, same kind of text, nothing else differs."""
    if a["type"] != api.DELTA_TYPE or b["type"] != api.DELTA_TYPE or a.keys() != b.keys():
        return False
    for key, value in b.items():
        if key == "seq":
            continue
        if key in api.DELTA_TEXT_FIELDS:
            if not isinstance(value, str) or not isinstance(a[key], str):
                return False
        elif a[key] != value:
            return False
    return True


def _merged(run: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(run[0])  # a copy: the ring's dicts are shared by every client
    for key in api.DELTA_TEXT_FIELDS & merged.keys():
        merged[key] = "".join(d[key] for d in run)  # one join, not a concatenation per piece
    merged["seq"] = run[-1]["seq"]
    return merged


def merge_delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """`a` and then `b` as one delta, or None when they are not two pieces of the same text."""
    return _merged([a, b]) if _mergeable(a, b) else None


def _delta_key(event: Any) -> tuple:
    """What two deltas of one workspace must share to merge: the reply, the kinds of text they
    carry, the tool-calls flag (the fields _mergeable compares, read off the event)."""
    return (event.request_id, event.text != "", event.reasoning != "", event.refusal != "", event.tool_calls)


def _delta_dict(run: list[Item]) -> dict[str, Any]:
    """A run of delta events as one delta's dict: what _merged makes of their to_dict()s."""
    first = run[0].delta
    out: dict[str, Any] = {"type": api.DELTA_TYPE, "seq": run[-1].seq, "workspace": first.workspace,
                           "request_id": first.request_id}
    for name in api.DELTA_TEXT_ORDER:
        if getattr(first, name):
            out[name] = getattr(first, name) if len(run) == 1 else "".join([getattr(i.delta, name) for i in run])
    if first.tool_calls:
        out["tool_calls"] = True
    return out


def coalesce(items: list[Item]) -> list[dict[str, Any]]:
    """Events in seq order -> the same events with each workspace's runs of consecutive deltas
    merged (the merged one carries its last piece's seq). Still in seq order."""
    runs: list[list[Item]] = []
    keys: list[Any] = []  # per run: the delta key of a run of delta events, else None
    last_of: dict[str, int] = {}  # workspace -> index in runs of its latest event
    for item in items:
        j = last_of.get(item.workspace)
        key = _delta_key(item.delta) if item.delta is not None else None
        if j is not None and item.type == api.DELTA_TYPE:
            if key is not None and keys[j] is not None:
                if key == keys[j]:
                    runs[j].append(item)
                    continue
            elif _mergeable(runs[j][0].data, item.data):
                runs[j].append(item)
                keys[j] = None  # a mixed run (events and dicts): merged from the dicts
                continue
        last_of[item.workspace] = len(runs)
        runs.append([item])
        keys.append(key)
    out = [_delta_dict(run) if key is not None else run[0].data if len(run) == 1 else _merged([i.data for i in run])
           for run, key in zip(runs, keys)]
    if len(out) > 1:
        out.sort(key=lambda d: d["seq"])  # a merged delta moved to its last piece's place
    return out


class Hub:
    """The engine's single listener: numbers nothing (the engine does), keeps the ring buffer,
    fans events out to subscribed clients, and counts running streams for the idle exit."""

    def __init__(self, size: int = REPLAY_EVENTS):
        self.buffer: deque[Item] = deque(maxlen=size)
        self.clients: set[Connection] = set()
        self.streams: set[str] = set()
        self.last_seq = 0
        self.on_streams_changed: Callable[[], None] = lambda: None

    def __call__(self, event: Any) -> None:
        try:
            item = Item.of_delta(event) if type(event) is api.StreamDelta else Item(event.to_dict())
        except Exception:  # an engine bug: say so loudly, but never break the stream that emitted it
            log.exception("event %r cannot be sent", getattr(event, "type", event))
            return
        if item.seq <= self.last_seq:  # the engine's contract; refuse rather than confuse clients
            log.error("event %s with seq %d after %d dropped", item.type, item.seq, self.last_seq)
            return
        self.last_seq = item.seq
        self.buffer.append(item)
        if item.type in api.STREAM_OPENED or item.type in api.STREAM_CLOSED:
            if item.type in api.STREAM_OPENED:
                self.streams.add(item.workspace)
            else:
                self.streams.discard(item.workspace)
            self.on_streams_changed()
        for client in list(self.clients):
            client.push(item)

    def since(self, seq: int) -> list[Item] | None:
        """Every event after `seq`, or None when some of them are no longer kept."""
        if seq >= self.last_seq:
            return []
        if not self.buffer or self.buffer[0].seq > seq + 1:
            return None
        # Seqs are increasing but may have gaps (a listener-less engine numbers everything): bisect.
        lo, hi = 0, len(self.buffer)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.buffer[mid].seq <= seq:
                lo = mid + 1
            else:
                hi = mid
        return [self.buffer[i] for i in range(lo, len(self.buffer))]


# ---- one client -----------------------------------------------------------------------------
class Connection:
    def __init__(self, server: "EngineServer", reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.lines = p.LineReader(reader)
        self.writer = writer
        self.ready = False  # a hello with our protocol version was answered
        self.client_name = "?"
        self.pending: list[Item] = []
        self.holding = False  # a snapshot is being built: keep events until it is sent
        self._flush: asyncio.Handle | None = None
        self._flush_soon = False  # the flush scheduled is at the end of this tick, not a frame later
        self._last_flush = 0.0
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.closed = False
        self.batches_sent = 0

    # -- sending
    def send(self, message: dict[str, Any]) -> None:
        self.send_bytes(p.dumps(message))

    def send_bytes(self, data: bytes) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_CLIENT_BACKLOG:
            # It will reconnect with its last seq and get the rest from the ring or a snapshot.
            log.warning("client %s is not reading (%d bytes queued): dropped", self.client_name,
                        transport.get_write_buffer_size())
            self.abort()
            return
        self.writer.write(data)

    def push(self, item: Item) -> None:
        self.pending.append(item)
        if self.holding or self._flush_soon:
            return
        loop = asyncio.get_running_loop()
        if item.type != api.DELTA_TYPE:
            # Anything but a delta (a reply's end, a new message, a rename) goes out at the end of
            # this loop tick, with the deltas before it: only deltas wait for the frame. A reply's
            # end no longer waits up to a frame, and what one tick emits is still one batch.
            if self._flush is not None:
                self._flush.cancel()
            self._flush = loop.call_soon(self.flush)
            self._flush_soon = True
        elif self._flush is None:
            delay = max(0.0, self._last_flush + FRAME - loop.time())
            self._flush = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._flush_soon = False
        if not self.pending or self.holding:
            return
        items, self.pending = self.pending, []
        self._last_flush = asyncio.get_running_loop().time()
        events = coalesce(items)
        for start in range(0, len(events), BATCH_EVENTS):
            chunk = events[start:start + BATCH_EVENTS]
            message = p.notification("events", {"seq": chunk[-1]["seq"], "events": chunk})
            try:
                data = p.dumps(message)
            except (TypeError, ValueError):
                # An engine bug (a value JSON cannot carry): keep the events, as their repr.
                log.exception("events %d..%d are not JSON-safe", chunk[0]["seq"], chunk[-1]["seq"])
                data = p.dumps_lenient(message)
            self.send_bytes(data)
            self.batches_sent += 1

    def abort(self) -> None:
        self.closed = True
        self.writer.transport.abort()

    # -- receiving
    async def serve(self) -> None:
        try:
            while not self.closed:
                try:
                    line = await self.lines.readline()
                except p.LineTooLong as exc:
                    self.send(p.error(None, p.LINE_TOO_LONG, str(exc)))
                    continue
                if line is None:
                    break
                if not line.strip():
                    continue
                await self._slots.acquire()
                task = asyncio.create_task(self._handle(line))
                self._tasks.add(task)
                task.add_done_callback(self._done)
        except (ConnectionError, OSError):
            pass  # the client went away; what it asked for runs on, what it gets is in the ring

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _handle(self, line: bytes) -> None:
        try:
            msg = p.parse(line)
        except p.ProtocolError as exc:
            self.send(p.error(None, exc.code, exc.message))
            return
        id_ = msg.get("id")
        method = msg.get("method")
        is_request = "id" in msg
        if not isinstance(method, str):
            if "result" in msg or "error" in msg:
                return  # a client answering something: we ask clients nothing
            self.send(p.error(id_, p.INVALID_REQUEST, "invalid request: no method"))
            return
        params = msg.get("params", {})
        if not isinstance(params, dict):
            if is_request:
                self.send(p.error(id_, p.INVALID_PARAMS, f"{method}: params must be an object (named arguments)"))
            return
        try:
            value = await self.server.dispatch(self, method, params)
        except p.ProtocolError as exc:
            if is_request:
                self.send(p.error(id_, exc.code, exc.message, exc.data))
            return
        except Exception as exc:  # a command refused: the client gets why, the engine runs on
            if not isinstance(exc, (KeyError, ValueError, PermissionError)):
                log.exception("%s failed", method)
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            if is_request:
                self.send(p.error(id_, p.COMMAND_FAILED, f"{method}: {text}", {"type": type(exc).__name__}))
            return
        if is_request:
            # Events emitted before the answer go before it: a client that has the answer of
            # `send`, `wait_idle` or `interrupt` has also seen every event they caused.
            if self.pending:
                self.flush()
            self.send(p.result(id_, value))

    async def close(self, *, cancel: bool = False) -> None:
        """End the link. Requests it sent still run to their end (a `send` whose sender vanished is
        still sent), unless `cancel` (the engine is stopping)."""
        self.closed = True
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._flush_soon = False
        for task in list(self._tasks) if cancel else ():
            task.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), CLOSE_DRAIN)


# ---- the server -----------------------------------------------------------------------------
class EngineServer:
    def __init__(self, paths: Paths, config: Config, engine: Any | None = None):
        self.paths = paths
        self.config = config
        self.host = HostPaths.of(paths)
        self.engine = engine if engine is not None else api.Engine(paths, config)
        self.engine_id = uuid.uuid4().hex
        self.hub = Hub()
        self.hub.on_streams_changed = self._check_idle
        self.clients: set[Connection] = set()
        self.started_at = time.time()
        self.stopping: asyncio.Event | None = None
        self.stop_reason = ""
        self.idle_seconds = config.engine.idle_exit_minutes * 60
        self._idle: asyncio.TimerHandle | None = None
        self._server: asyncio.AbstractServer | None = None
        self._pid_fd: int | None = None
        self._closed_engine: asyncio.Future | None = None
        self.interrupted_at_stop = 0
        self._stop_requests: set[asyncio.Task] = set()

    # -- life
    def lock_pid_file(self) -> None:
        self.host.ensure()
        fd = os.open(self.host.pid_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raw = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise AlreadyRunning(int(raw) if raw.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._pid_fd = fd

    async def start(self) -> None:
        self.stopping = asyncio.Event()
        self._closed_engine = asyncio.get_running_loop().create_future()
        if self._pid_fd is None:
            self.lock_pid_file()
        self.engine.subscribe(self.hub)
        await self.engine.start()
        sock = self.host.socket
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()  # a stale socket of a dead engine: we hold the pid lock, so no engine is there
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._accept, path=str(sock), limit=p.READ_CHUNK)
        finally:
            os.umask(old)
        os.chmod(sock, 0o600)
        api.atomic.write_json(self.host.registration, self.registration())
        self._check_idle()
        log.info("engine %s (pid %d, protocol %d) listening on %s", __version__, os.getpid(),
                 p.PROTOCOL_VERSION, sock)

    def registration(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "engine_id": self.engine_id, "version": __version__,
                "protocol": p.PROTOCOL_VERSION, "socket": str(self.host.socket), "started_at": self.started_at}

    def stop(self, reason: str) -> None:
        if self.stopping is not None and not self.stopping.is_set():
            self.stop_reason = reason
            self.stopping.set()

    async def run_until_stopped(self) -> None:
        assert self.stopping is not None
        await self.stopping.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        log.info("stopping (%s)", self.stop_reason)
        if self._idle is not None:
            self._idle.cancel()
        if self._server is not None:
            self._server.close()
        self.interrupted_at_stop = len(self.hub.streams)
        try:
            await self.engine.close()  # partials committed as interrupted, events go out below
        except Exception:
            log.exception("closing the engine failed")
        assert self._closed_engine is not None
        if not self._closed_engine.done():
            self._closed_engine.set_result(None)
        # Let each engine.stop request put its answer in its client's outbox before we close.
        await asyncio.gather(*self._stop_requests, return_exceptions=True)
        for client in list(self.clients):
            client.flush()
            client.send(p.notification("engine.closing", {"reason": self.stop_reason}))
        await asyncio.gather(*(c.close(cancel=True) for c in list(self.clients)), return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            self.host.socket.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.host.registration.unlink()
        if self._pid_fd is not None:
            os.ftruncate(self._pid_fd, 0)  # kept, not unlinked: the lock lives on this inode
            os.close(self._pid_fd)
            self._pid_fd = None
        log.info("stopped")

    # -- idle exit
    def _check_idle(self) -> None:
        if self.stopping is None or self.stopping.is_set():
            return
        if self.clients or self.hub.streams:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
        elif self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(self.idle_seconds, self._idle_fire)

    def _idle_fire(self) -> None:
        self._idle = None
        if not self.clients and not self.hub.streams:
            self.stop("idle")

    # -- clients
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        creds = peer_credentials(sock) if sock is not None else None
        if creds is not None and not peer_allowed(creds, os.getuid()):
            log.warning("refused a connection from uid %d (pid %d): not the engine's user", creds[1], creds[0])
            writer.transport.abort()
            return
        client = Connection(self, reader, writer)
        self.clients.add(client)
        self._check_idle()
        try:
            await client.serve()
        finally:
            self.clients.discard(client)
            self.hub.clients.discard(client)
            if not client.closed:
                await client.close()
            self._check_idle()

    async def dispatch(self, client: Connection, method: str, params: dict[str, Any]) -> Any:
        if method == "hello":
            return self._hello(client, params)
        if method == "engine.status":
            return self.status()
        if method == "engine.stop":
            task = asyncio.current_task()
            if task is not None:
                self._stop_requests.add(task)
            self.stop("stop")
            assert self._closed_engine is not None
            await asyncio.shield(self._closed_engine)
            return {"stopped": True, "interrupted": self.interrupted_at_stop}
        if not client.ready:
            raise p.ProtocolError(p.NOT_READY, f"{method}: say hello first (protocol {p.PROTOCOL_VERSION})")
        if self.stopping is not None and self.stopping.is_set():
            raise p.ProtocolError(p.SHUTTING_DOWN, f"{method}: the engine is stopping ({self.stop_reason})")
        if method == "subscribe":
            return await self._subscribe(client, params)
        if method == "unsubscribe":
            self.hub.clients.discard(client)
            client.pending.clear()
            return {"subscribed": False}
        if method == "snapshot":
            if set(params) - {"workspace"}:
                raise p.ProtocolError(p.INVALID_PARAMS, "snapshot: takes only 'workspace'")
            return await api.snapshot(self.engine, params.get("workspace"))
        command = api.COMMANDS.get(method)
        if command is None:
            raise p.ProtocolError(p.METHOD_NOT_FOUND, f"unknown method {method!r}")
        fn = getattr(self.engine, method)
        try:
            inspect.signature(fn).bind(**params)
        except TypeError as exc:
            raise p.ProtocolError(p.INVALID_PARAMS, f"{method}: {exc}") from None
        return command.encode(await fn(**params))

    def _hello(self, client: Connection, params: dict[str, Any]) -> dict[str, Any]:
        client.client_name = str(params.get("client", "?"))[:80]
        theirs = params.get("protocol")
        if theirs != p.PROTOCOL_VERSION:
            client.ready = False
            raise p.ProtocolError(
                p.VERSION_MISMATCH,
                f"the running engine speaks protocol {p.PROTOCOL_VERSION} (muxtui {__version__}, pid {os.getpid()}); "
                f"this client speaks protocol {theirs} ({params.get('version', '?')}): "
                "stop the engine (`muxtui engine stop`) to start one of this version",
                {"engine_protocol": p.PROTOCOL_VERSION, "engine_version": __version__, "pid": os.getpid(),
                 "streams": len(self.hub.streams), "clients": len(self.clients)},
            )
        client.ready = True
        return {**self.registration(), "last_seq": self.hub.last_seq}

    async def _subscribe(self, client: Connection, params: dict[str, Any]) -> dict[str, Any]:
        since = params.get("since_seq")
        if since is not None and (not isinstance(since, int) or isinstance(since, bool)):
            raise p.ProtocolError(p.INVALID_PARAMS, "subscribe: since_seq must be an integer")
        same_engine = params.get("engine_id") == self.engine_id
        if since is not None and same_engine:
            items = self.hub.since(since)
            if items is not None:
                # Nothing awaits between reading the ring and joining the hub: no event falls between.
                self.hub.clients.add(client)
                client.pending = list(items)
                client.flush()
                return {"mode": "replay", "replayed": len(items), "seq": self.hub.last_seq}
        client.holding = True
        self.hub.clients.add(client)
        client.pending = []
        try:
            snap = await api.snapshot(self.engine)
        except BaseException:
            self.hub.clients.discard(client)
            raise
        finally:
            client.holding = False
        seq = snap["seq"]
        client.pending = [i for i in client.pending if i.seq > seq]
        client.send(p.notification("snapshot", snap))
        client.flush()
        why = "new" if since is None else ("engine restarted" if not same_engine else "too old")
        return {"mode": "snapshot", "reason": why, "seq": seq}

    def status(self) -> dict[str, Any]:
        return {**self.registration(), "uptime": time.time() - self.started_at, "clients": len(self.clients),
                "streams": sorted(self.hub.streams), "last_seq": self.hub.last_seq,
                "buffered": len(self.hub.buffer), "idle_exit_minutes": self.config.engine.idle_exit_minutes,
                "stopping": bool(self.stopping and self.stopping.is_set())}


async def serve(paths: Paths, config: Config, *, ready_fd: int | None = None,
                engine: Any | None = None) -> EngineServer:
    """Run an engine until it is stopped (engine.stop, SIGTERM/SIGINT/SIGHUP, idle). `ready_fd`:
    a pipe to write "ready <pid>" (or "error: ...") to once clients can connect."""
    server = EngineServer(paths, config, engine)
    loop = asyncio.get_running_loop()
    try:
        server.lock_pid_file()
        await server.start()
    except BaseException as exc:
        _notify(ready_fd, f"error: {exc}")
        raise
    for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT"), (signal.SIGHUP, "SIGHUP")):
        loop.add_signal_handler(sig, server.stop, name)
    _notify(ready_fd, f"ready {os.getpid()}")
    try:
        await server.run_until_stopped()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return server


def _notify(fd: int | None, text: str) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, text.encode(errors="replace")[:4000] + b"\n")
    with contextlib.suppress(OSError):
        os.close(fd)


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("muxtui")
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def registration_of(paths: Paths) -> dict[str, Any] | None:
    return read_registration(paths)
