"""Starting the engine for a client: detached, waited for, one at a time.

What it owns: the spawn lock (two clients starting at once start one engine), the detached start
(an intermediate process starts ``muxtui engine --foreground`` in a new session with stdio to the
engine log and exits at once, so the engine is nobody's child and leaves no zombie behind), and
the readiness wait: the engine writes "ready <pid>" or "error: <why>" to a pipe it inherits, so
the client waits on an event, not a poll; a pipe that closes with no word means the engine died
starting, and the client quotes the end of the engine log.

Run as ``python -m muxtui.host.spawn LOG -- COMMAND...`` it is the intermediate process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from muxtui.host.paths import HostPaths
from muxtui.paths import Paths

START_TIMEOUT = 20.0  # seconds a client waits for a new engine (imports are slow on a busy machine)
LOG_ROTATE_BYTES = 2 * 1024 * 1024
LOG_TAIL_LINES = 12


class EngineStartError(Exception):
    """No engine could be started; the message says why and how to run without one."""


def engine_command(home: Path | None, ready_fd: int) -> list[str]:
    cmd = [sys.executable, "-m", "muxtui"]
    if home is not None:
        cmd += ["--home", str(home)]
    return cmd + ["engine", "--foreground", "--ready-fd", str(ready_fd)]


def resolve_home(home: str | os.PathLike | None) -> Path | None:
    """The home to hand to the engine, absolute (it runs in /), or None for the user dirs."""
    home = home or os.environ.get("MUXTUI_HOME")
    return Path(home).expanduser().absolute() if home else None


def spawn_detached(paths: Paths, home: Path | None, timeout: float = START_TIMEOUT) -> int:
    """Start an engine and wait until it listens (blocking; run it in a thread). Returns its pid."""
    host = HostPaths.of(paths)
    host.ensure()
    _rotate(host.log_file)
    read_end, write_end = os.pipe()
    try:
        log_fd = os.open(host.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            intermediate = subprocess.Popen(
                [sys.executable, "-m", "muxtui.host.spawn", str(write_end), "--",
                 *engine_command(home, write_end)],
                stdin=subprocess.DEVNULL, stdout=log_fd, stderr=log_fd, pass_fds=(write_end,),
                cwd="/", start_new_session=True,
            )
        finally:
            os.close(log_fd)
        os.close(write_end)
        write_end = -1
        intermediate.wait(timeout)
        word = _read_word(read_end, timeout)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    if word.startswith("ready"):
        return int(word.split()[1])
    why = word.removeprefix("error: ") if word else "it exited while starting"
    raise EngineStartError(f"cannot start the muxtui engine: {why}{_log_tail(host.log_file)}\n"
                           "Run `muxtui engine --foreground` to see it start, or use the app without an engine "
                           "(`muxtui --no-engine`).")


def _read_word(fd: int, timeout: float) -> str:
    """The engine's one line on the readiness pipe ("" when it closed the pipe without one)."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            raise EngineStartError(f"the muxtui engine did not start within {timeout:.0f} s")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace").strip()


def _rotate(log_file: Path) -> None:
    with contextlib.suppress(OSError):
        if log_file.stat().st_size > LOG_ROTATE_BYTES:
            os.replace(log_file, log_file.with_suffix(".log.1"))


def _log_tail(log_file: Path) -> str:
    try:
        lines = log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return ""
    return ("\nThe end of " + str(log_file) + ":\n  " + "\n  ".join(lines)) if lines else ""


class SpawnLock:
    """An exclusive lock on the runtime dir's spawn.lock, taken in a thread (flock blocks)."""

    def __init__(self, host: HostPaths):
        self.host = host
        self.path = host.spawn_lock
        self.fd = -1

    async def __aenter__(self) -> "SpawnLock":
        self.host.ensure()
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        # Bounded: the holder is a client within spawn_detached's own timeout, or dead (lock freed).
        await asyncio.to_thread(fcntl.flock, self.fd, fcntl.LOCK_EX)
        return self

    async def __aexit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing releases the lock


def _intermediate(argv: list[str]) -> int:
    """Start the engine in a session of its own and leave at once (our parent reaps us)."""
    ready_fd = int(argv[0])
    cmd = argv[argv.index("--") + 1:]
    subprocess.Popen(cmd, stdin=subprocess.DEVNULL, pass_fds=(ready_fd,), cwd="/", start_new_session=True)
    return 0


if __name__ == "__main__":
    sys.exit(_intermediate(sys.argv[1:]))
