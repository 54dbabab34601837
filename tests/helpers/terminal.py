"""A pseudo-terminal in front of the real muxtui: start the app under one, and read what the
terminal receives (bounded reads; an app that has gone ends them)."""

from __future__ import annotations

import os
import pty
import select
import time

from tests.helpers.cli import COMMAND


def read_some(fd: int, out: bytearray, wait: float) -> bool:
    """Append what the terminal received within `wait` seconds; False once the app has gone."""
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return True
    try:
        data = os.read(fd, 65536)
    except OSError:  # EIO: every writer of the terminal has gone
        return False
    out += data
    return bool(data)


def read_until(fd: int, out: bytearray, needle: bytes, timeout: float, wait: float = 0.1) -> bool:
    """Read until `needle` has arrived (True), the other side has gone, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while needle not in out and time.monotonic() < deadline:
        if not read_some(fd, out, wait):
            break
    return needle in out


def read_for(fd: int, out: bytearray, seconds: float, wait: float = 0.05) -> None:
    """Keep reading for `seconds` (the terminal must be drained while the app works)."""
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        read_some(fd, out, wait)


def app_in_pty(env: dict[str, str], *args: str) -> tuple[int, int]:
    """`muxtui ARGS` (the app, unless ARGS name a command) with a pty as its terminal:
    (pid, the pty's fd)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execvpe(COMMAND[0], [*COMMAND, *args], env)
    return pid, fd
