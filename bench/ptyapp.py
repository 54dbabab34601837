"""The app on a real pseudo-terminal, read as a terminal would: bytes counted, screen emulated.

``PtyApp`` starts ``python -m bench.trace_app`` (the bare ``muxtui`` command) on a new pty of a
given size, reads everything it writes into a ``pyte`` screen, and can drain the pty at a fixed
rate (a slow SSH link: the app's writes block once the kernel's pty buffer is full). Keys are
written to the pty as a terminal would send them. Linux only (``/proc`` for the child's CPU).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import signal
import struct
import sys
import termios
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


_TOKENS = re.compile(rb"\x1b\[[0-9;?]*([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\\\)|\x1b.|([^\x1b]+)", re.S)


def classify(data: bytes) -> dict[str, int]:
    """What terminal output is made of, in bytes: SGR (colours, attributes), cursor moves, scroll
    (margins, index), other escape sequences, text (blanks counted apart)."""
    kinds = {"sgr": 0, "move": 0, "scroll": 0, "other": 0, "text": 0, "blank": 0}
    for match in _TOKENS.finditer(data):
        size = match.end() - match.start()
        final, text = match.group(1), match.group(2)
        if text is not None:
            kinds["blank" if not text.strip() else "text"] += size
        elif final == b"m":
            kinds["sgr"] += size
        elif final in (b"H", b"G", b"C"):
            kinds["move"] += size
        elif final == b"r" or match.group(0) in (b"\x1bD", b"\x1bM"):
            kinds["scroll"] += size
        else:
            kinds["other"] += size
    return kinds


class PtyApp:
    def __init__(self, cols: int = 120, rows: int = 40, drain_bytes_per_s: float = 0.0,
                 bare: bool = False, env: dict[str, str] | None = None, module: str = "bench.trace_app") -> None:
        import pyte

        self.cols, self.rows = cols, rows
        self.rate = drain_bytes_per_s
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.bytes = 0  # everything read from the app so far
        self.raw = bytearray()  # ... and the bytes themselves (classify() says what they are)
        self.last_read = 0.0
        self.pid = -1
        self.fd = -1
        self.bare = bare
        self.module = module  # what runs on the pty: `python -m MODULE`
        self.env = env
        self._changed = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self._watchers: list[tuple[Callable[[], bool], asyncio.Future]] = []

    # ---- life cycle -----------------------------------------------------------------------
    def start(self) -> "PtyApp":
        argv = [sys.executable, "-m", self.module, *(["--bare"] if self.bare else [])]
        env = dict(self.env if self.env is not None else os.environ)
        env.update(TERM="xterm-256color", COLORTERM="truecolor")
        # The size comes from the pty (TIOCSWINSZ), so a resize reaches the app: COLUMNS/LINES
        # would override it.
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        pid, fd = pty.fork()
        if pid == 0:  # child: the pty's slave is its stdin/stdout/stderr and controlling terminal
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
                os.chdir(ROOT)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        os.set_blocking(fd, False)
        self._reader = asyncio.get_running_loop().create_task(self._read_loop())
        return self

    async def close(self, timeout: float = 10.0) -> None:
        """Quit the app (ctrl+q), then make sure it is gone."""
        if self.pid <= 0:
            return
        try:
            self.write(b"\x11")
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, _status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            await asyncio.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self.pid = -1
        if self._reader is not None:
            self._reader.cancel()
        os.close(self.fd)

    def resize(self, cols: int, rows: int) -> None:
        """The terminal window changes size (the app gets SIGWINCH from the kernel)."""
        self.cols, self.rows = cols, rows
        self.screen.resize(rows, cols)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    # ---- input and output -----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    async def type(self, text: str, gap: float = 0.01) -> None:
        for ch in text:
            self.write(ch.encode())
            await asyncio.sleep(gap)

    async def _read_loop(self) -> None:
        """Read as fast as the app writes (``rate`` 0), or only ``rate`` bytes a second."""
        loop = asyncio.get_running_loop()
        budget, last = 0.0, time.monotonic()
        tick = 0.01
        while True:
            if self.rate:
                now = time.monotonic()
                budget = min(budget + (now - last) * self.rate, self.rate * 0.05)  # at most 50 ms of burst
                last = now
                want = int(budget)
                if want <= 0:
                    await asyncio.sleep(tick)
                    continue
            else:
                want = 1 << 16
                readable = loop.create_future()
                loop.add_reader(self.fd, lambda f=readable: f.done() or f.set_result(None))
                try:
                    await readable
                finally:
                    loop.remove_reader(self.fd)
            try:
                data = os.read(self.fd, want)
            except BlockingIOError:
                if self.rate:
                    await asyncio.sleep(tick)
                continue
            except OSError:  # EIO: the app has exited
                return
            if not data:
                return
            if self.rate:
                budget -= len(data)
            self.bytes += len(data)
            self.raw += data
            self.last_read = time.monotonic()
            self.stream.feed(data)
            self._check()

    def _check(self) -> None:
        for item in list(self._watchers):
            predicate, future = item
            if not future.done() and predicate():
                future.set_result(self.last_read)
            if future.done():
                self._watchers.remove(item)

    def text(self) -> str:
        """The screen's text, whitespace-normalised."""
        return " ".join(" ".join(self.screen.display).split())

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0) -> float:
        """The monotonic time of the read after which `predicate()` held (checked per read)."""
        if predicate():
            return time.monotonic()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._watchers.append((predicate, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"not on the pty screen after {timeout:g} s; screen:\n"
                               + "\n".join(self.screen.display)) from None

    async def wait_text(self, words: str, timeout: float = 60.0) -> float:
        return await self.wait_for(lambda: words in self.text(), timeout)

    async def settle(self, quiet: float = 0.5, timeout: float = 30.0) -> None:
        """Until the app has written nothing for `quiet` seconds (bounded by `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if time.monotonic() - max(self.last_read, 0.0) >= quiet:
                return
            await asyncio.sleep(0.05)

    def cpu_seconds(self) -> float:
        """The app's CPU time so far (user + system, its threads included)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0
