"""`muxtui engine [--foreground] [start|status|stop]`: run, report or stop the engine host.

Imports of the engine wait until the command runs: add_parser is on every command's start-up path.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from muxtui.paths import Paths

if TYPE_CHECKING:
    from muxtui.config import Config

EXIT_NOT_RUNNING = 3  # as `systemctl status` says of a stopped unit
STATUS_TIMEOUT = 10.0
STOP_TIMEOUT = 60.0  # stopping saves every reply in flight, and a full disk gets some seconds of retries


def _wedged(paths: Paths, seconds: float) -> str:
    from muxtui.host.paths import read_registration

    pid = (read_registration(paths) or {}).get("pid")
    how = f"kill {pid}" if pid else "kill its process"
    return f"muxtui: the engine does not answer within {seconds:g} s; stop it with `{how}`"


def add_parser(sub: Any) -> None:
    e = sub.add_parser("engine", help="start, report or stop the background engine that runs the streams")
    e.add_argument("action", nargs="?", choices=("start", "status", "stop"), default="start",
                   help="start (default: start one unless running), status, or stop (replies in flight "
                        "are saved as interrupted)")
    e.add_argument("--foreground", action="store_true", help="run the engine here, logging to stderr (debugging)")
    e.add_argument("--stdio", action="store_true",
                   help="speak the engine protocol on stdin/stdout (starting the engine if needed): "
                        "what `muxtui --remote HOST` runs over ssh")
    e.add_argument("--json", action="store_true", help="status: print one JSON object")
    e.add_argument("--timeout", type=float, metavar="S",
                   help=f"status/stop: give up on an engine that does not answer within S seconds "
                        f"(default {STATUS_TIMEOUT:g} for status, {STOP_TIMEOUT:g} for stop)")
    e.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)


async def run(args: argparse.Namespace, paths: Paths, cfg: Config | None) -> int:
    """`cfg` is None for status and stop, which read no config (muxtui.cli)."""
    from muxtui.host.paths import RuntimeDirError
    from muxtui.host.spawn import EngineStartError

    try:
        if args.foreground:
            return await _foreground(args, paths, cfg)
        if args.stdio:
            return await _stdio(args, paths)
        if args.action == "status":
            return await _status(args, paths)
        if args.action == "stop":
            return await _stop(args, paths)
        return await _start(args, paths)
    except (RuntimeDirError, EngineStartError) as exc:
        print(f"muxtui: {exc}", file=sys.stderr)
        return 1


async def _foreground(args: argparse.Namespace, paths: Paths, cfg: Config | None) -> int:
    assert cfg is not None
    from muxtui.host.server import AlreadyRunning, serve, setup_logging

    setup_logging()
    try:
        server = await serve(paths, cfg, ready_fd=args.ready_fd)
    except AlreadyRunning as exc:
        print(f"muxtui: {exc}; `muxtui engine stop` stops it", file=sys.stderr)
        return 1
    print(f"muxtui: engine stopped ({server.stop_reason})", file=sys.stderr)
    return 0


async def _stdio(args: argparse.Namespace, paths: Paths) -> int:
    """Relay bytes between stdin/stdout and this user's engine socket until either side ends.
    The relay never parses a message: framing, hello and errors are the engine's own."""
    import asyncio
    import contextlib
    import os

    from muxtui.host.protocol import READ_CHUNK
    from muxtui.host.remote import EngineGone, connect_local
    from muxtui.host.spawn import resolve_home

    try:
        sock_reader, sock_writer, _ = await connect_local(paths, resolve_home(args.home), spawn=True)
    except EngineGone as exc:
        print(f"muxtui: {exc}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=READ_CHUNK)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), os.fdopen(0, "rb", buffering=0,
                                                                                      closefd=False))
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        os.fdopen(1, "wb", buffering=0, closefd=False))
    stdout = asyncio.StreamWriter(transport, protocol, None, loop)

    async def relay(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await src.read(READ_CHUNK):
                dst.write(chunk)
                await dst.drain()

    up = asyncio.create_task(relay(stdin, sock_writer))
    down = asyncio.create_task(relay(sock_reader, stdout))
    await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    for task in (up, down):
        task.cancel()
    for w in (sock_writer, stdout):
        with contextlib.suppress(Exception):
            w.close()
    return 0


async def _start(args: argparse.Namespace, paths: Paths) -> int:
    from muxtui.host import protocol as p
    from muxtui.host.remote import RemoteEngine

    remote = RemoteEngine(paths, home=args.home, reconnect=False, client_name="muxtui engine")
    try:
        await remote.start()
    except p.ProtocolError as exc:
        print(f"muxtui: {exc.message}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"muxtui: {exc}", file=sys.stderr)
        return 1
    info = remote.engine_info
    await remote.close()
    how = "started" if remote.spawned_pid else "already running"
    print(f"engine {how}: pid {info['pid']}, muxtui {info['version']}, socket {info['socket']}")
    return 0


async def _connect_plain(paths: Paths) -> Any:
    """A link without hello (engine.status and engine.stop work across versions), or None."""
    from muxtui.host.remote import EngineGone, RemoteEngine

    remote = RemoteEngine(paths, spawn=False, reconnect=False, client_name="muxtui engine")
    try:
        return await remote.start(hello=False)
    except EngineGone:
        return None


async def _status(args: argparse.Namespace, paths: Paths) -> int:
    from muxtui.host.paths import HostPaths

    remote = await _connect_plain(paths)
    if remote is None:
        if args.json:
            print(json.dumps({"running": False, "socket": str(HostPaths.of(paths).socket)}))
        else:
            print(f"no engine running (socket {HostPaths.of(paths).socket})")
        return EXIT_NOT_RUNNING
    import asyncio

    timeout = args.timeout or STATUS_TIMEOUT
    try:
        status = await asyncio.wait_for(remote.status(), timeout)
    except asyncio.TimeoutError:
        print(_wedged(paths, timeout), file=sys.stderr)
        return 1
    finally:
        await remote.close()
    if args.json:
        print(json.dumps({"running": True, **status}, ensure_ascii=False))
        return 0
    streams = status["streams"]
    print(f"engine running: pid {status['pid']}, muxtui {status['version']} (protocol {status['protocol']}), "
          f"up {_duration(status['uptime'])}")
    print(f"  socket   {status['socket']}")
    print(f"  clients  {status['clients'] - 1}")  # not counting this one
    print(f"  streams  {len(streams)}" + (f" ({', '.join(streams)})" if streams else ""))
    print(f"  events   {status['last_seq']} (last {status['buffered']} kept for reconnecting clients)")
    print(f"  idle exit after {status['idle_exit_minutes']:g} min with no client and no stream")
    return 0


async def _stop(args: argparse.Namespace, paths: Paths) -> int:
    import asyncio

    from muxtui.host.remote import EngineGone

    remote = await _connect_plain(paths)
    if remote is None:
        print("no engine running")
        return 0
    started = time.monotonic()
    timeout = args.timeout or STOP_TIMEOUT
    try:
        result = await asyncio.wait_for(remote.stop_engine(), timeout)
    except asyncio.TimeoutError:
        print(_wedged(paths, timeout), file=sys.stderr)
        return 1
    except EngineGone:
        result = {"interrupted": None}  # it went away while stopping: that is stopped too
    finally:
        await remote.close()
    n = result.get("interrupted")
    saved = "" if not n else f"; {n} repl{'y' if n == 1 else 'ies'} in flight saved as interrupted"
    print(f"engine stopped in {time.monotonic() - started:.1f} s{saved}")
    return 0


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
