"""`muxtui serve` fixtures: a temp MUXTUI_HOME on the fake server, and the server as a subprocess."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from muxtui.paths import Paths
from tests.helpers.home import TEST_KEY, temp_home
from tests.helpers.processes import stop_engine

URL = re.compile(r"http://\S+/\?token=(\S+)")


@pytest.fixture
def serve_home(tmp_path, fake_server) -> Paths:
    """A temp MUXTUI_HOME for the served apps (subprocesses: this process's environment is left
    alone). They attach to the engine host of this home (started by the first tab); it is
    stopped at the end, as `muxtui engine stop` would."""
    paths = temp_home(tmp_path / "home", fake_server)
    yield paths
    stop_engine(paths)


class ServeProcess:
    """`python -m muxtui serve` with its output collected on threads (so it never blocks)."""

    def __init__(self, home: Path, *args: str) -> None:
        env = {**os.environ, "MUXTUI_HOME": str(home), "MUXTUI_TEST_KEY": TEST_KEY}
        self.process = subprocess.Popen([sys.executable, "-m", "muxtui", "serve", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._url = threading.Event()
        self.url: str | None = None
        self._threads = [threading.Thread(target=self._collect, args=(s, out), daemon=True)
                         for s, out in ((self.process.stdout, self.stdout), (self.process.stderr, self.stderr))]
        for t in self._threads:
            t.start()

    def _collect(self, stream, out: list[str]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace")
            out.append(line)
            if self.url is None and (match := URL.search(line)):
                self.url = match.group(0)
                self._url.set()

    def wait_url(self, timeout: float = 30) -> str:
        if not self._url.wait(timeout):
            self.stop()
            raise AssertionError(f"no URL printed; stdout={self.stdout!r} stderr={self.stderr!r}")
        assert self.url is not None
        return self.url

    @property
    def token(self) -> str:
        return URL.search(self.wait_url()).group(1)

    def children(self) -> list[int]:
        """Pids of the server's child processes (one app per browser connection)."""
        try:
            text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for t in self._threads:
            t.join(10)
        return self.process.returncode


@pytest.fixture
def start_serve():
    started: list[ServeProcess] = []

    def start(home: Path, *args: str) -> ServeProcess:
        server = ServeProcess(home, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
