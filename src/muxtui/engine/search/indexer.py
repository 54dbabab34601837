"""Keeping the search index current without ever touching the UI's event loop.

Owns ``Indexer``: one background thread that syncs the workspaces the stream manager's events
name, and runs the whole-folder sync (a full build on first use) in a niced child process
(``python -m muxtui.engine.search``), falling back to this process if the child fails.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from muxtui.engine import events as ev
from muxtui.engine.search.index import SearchIndex

log = logging.getLogger("muxtui.search")

# Engine events after which a workspace's file (or its name) may have changed.
_WATCHED = frozenset({ev.MESSAGE_ADDED, ev.WORKSPACE_RECOVERED, ev.HISTORY_TRUNCATED, ev.HISTORY_RELOADED,
                      ev.WORKSPACE_CREATED, ev.WORKSPACE_UPDATED, ev.WORKSPACE_DELETED, *ev.STREAM_CLOSED})


class Indexer:
    """Keeps a ``SearchIndex`` current from one background thread.

    ``start()`` brings the whole index up to date (a full build the first time); ``attach`` to a
    stream manager re-syncs a workspace after each event that commits to its history. The
    listener only records the workspace id and wakes the thread: it never touches disk.
    """

    def __init__(self, data_dir: Path):
        self.index = SearchIndex(data_dir)
        self._wake = threading.Condition()
        self._pending: set[str] = set()
        self._all = True
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set after the first full sync
        self.generation = 0  # bumped after each batch of work (tests and the UI wait on it)
        self.build_seconds: float | None = None
        self.error: str | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._child: subprocess.Popen | None = None
        self.in_process = False  # tests: run the whole-folder sync in this process instead

    def attach(self, manager: Any) -> None:
        self._unsubscribe = manager.subscribe(self._on_event)

    def _on_event(self, event: ev.Event) -> None:
        if event.type in _WATCHED:
            self.schedule(event.workspace)

    def schedule(self, ws_id: str | None = None) -> None:
        """Re-sync one workspace (or all, with None) soon."""
        with self._wake:
            if ws_id is None:
                self._all = True
            else:
                self._pending.add(ws_id)
            self._wake.notify()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="muxtui-search-index", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._wake:
            self._stop = True
            self._wake.notify()
            child = self._child
        if child is not None and child.poll() is None:
            child.terminate()  # it commits in batches: what it wrote stays, the rest is redone later
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 30) -> bool:
        """Block until nothing is pending (tests, the CLI). False on timeout."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._all or self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.5))
        return True

    def _sync_all(self) -> None:
        if not self.in_process:
            self.index.close()  # the child may replace a damaged file
            try:
                with self._wake:
                    if self._stop:
                        return
                    self._child = subprocess.Popen(
                        [sys.executable, "-m", "muxtui.engine.search", str(self.index.data_dir)],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                _out, err = self._child.communicate()
                code = self._child.returncode
            except OSError as exc:
                code, err = -1, str(exc).encode()
            finally:
                self._child = None
            if code == 0 or self._stop:
                return
            log.warning("search index child failed (%s): %s; syncing in this process", code,
                        err.decode(errors="replace")[-500:])
        self.index.sync_all(lambda: self._stop)

    def _run(self) -> None:
        try:
            while True:
                with self._wake:
                    while not (self._stop or self._all or self._pending):
                        self._wake.wait()
                    if self._stop:
                        return
                    do_all, self._all = self._all, False
                    ids, self._pending = self._pending, set()
                    self._busy = True
                try:
                    if do_all:
                        t0 = time.perf_counter()
                        self._sync_all()
                        self.build_seconds = time.perf_counter() - t0
                        self.ready.set()
                    else:
                        for ws_id in sorted(ids):
                            self.index.sync_workspace(ws_id)
                    self.error = None
                except Exception as exc:  # the index is a convenience: log, carry on
                    log.exception("search index update failed")
                    self.error = str(exc)
                    self.ready.set()
                finally:
                    with self._wake:
                        self._busy = False
                        self.generation += 1
                        self._wake.notify_all()
        finally:
            self.index.close()

