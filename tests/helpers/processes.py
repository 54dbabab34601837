"""Other processes a test started: is one alive, wait (bounded) for it to exit, stop it, and stop
the engine host registered for a MUXTUI_HOME (as `muxtui engine stop` would)."""

from __future__ import annotations

import os
import select
import signal

from muxtui.paths import Paths

STOP_WAIT = 20.0  # seconds a test waits for a process to exit


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_exit(pid: int, timeout: float = STOP_WAIT) -> bool:
    """True once process `pid` is gone (a pidfd becomes readable when it exits: no polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def stop(pid: int) -> None:
    """SIGTERM, and SIGKILL if it is still there after STOP_WAIT seconds."""
    if alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not wait_exit(pid):
            os.kill(pid, signal.SIGKILL)


def stop_engine(paths: Paths) -> None:
    """Stop the engine host registered in `paths`, if one runs."""
    from muxtui.host.server import registration_of

    reg = registration_of(paths)
    if reg:
        stop(reg["pid"])
