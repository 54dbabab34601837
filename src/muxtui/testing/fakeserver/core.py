"""The fake server's core: its own event loop in a daemon thread (start, stop, restart), the
requests it recorded, the text it sent, and the gates tests pause streams at. Thread-safe:
tests call in from any thread or loop. Serving requests is ``FakeServer``'s (server.py).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from muxtui.testing.fakeserver.scenario import Scenario
from muxtui.testing.fakeserver.wire import ClientGone, Request, wait_eof

__all__ = ["BATCH_EVENTS", "Record", "ServerCore"]

BATCH_EVENTS = 256  # events per write when no delay is set


class _Gate:
    __slots__ = ("reached", "released", "released_flag")

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.released = asyncio.Event()  # set on the server loop only
        self.released_flag = False


@dataclass
class Record:
    data: dict[str, Any]
    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)


class ServerCore:
    """The thread, the loop and the state tests read; ``FakeServer`` adds serving (``_handle``)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        require_key: str | None = None,
        batch_events: int = BATCH_EVENTS,
    ) -> None:
        self.host = host
        self.port = port
        self.require_key = require_key
        self.batch_events = max(1, batch_events)
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []  # internal server errors (a test should expect none)
        self._records: list[Record] = []
        self._counters: dict[str, int] = {}
        self._gates: dict[str, _Gate] = {}
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False

    # -- life cycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        if self.running:
            return self
        self._stopping = False
        with self._lock:  # after a restart, gate events must not be bound to the old loop
            for gate in self._gates.values():
                gate.released = asyncio.Event()
                if gate.released_flag:
                    gate.released.set()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:  # noqa: BLE001 - reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                try:
                    loop.run_until_complete(self._acancel_all())
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    loop.close()

        self._thread = threading.Thread(target=run, name=f"FakeServer:{self.port or 'auto'}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    async def _astart(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=256 * 1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _acancel_all(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _astop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        await self._acancel_all()
        if self._server is not None:
            await self._server.wait_closed()

    def stop(self) -> None:
        """Close the listener and every connection (streams in flight end), join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._astop(), loop).result(timeout=10)
            except RuntimeError:
                pass  # the loop already stopped
            finally:
                try:
                    loop.call_soon_threadsafe(loop.stop)
                except RuntimeError:
                    pass
        thread.join(timeout=10)
        self._thread = None
        self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls

    def reset(self) -> None:
        """Forget requests, per-model counters and gates (releasing any paused stream)."""
        with self._lock:
            gates = list(self._gates.values())
            self.requests.clear()
            self._records.clear()
            self._counters.clear()
            self._gates.clear()
            self.errors.clear()
        for gate in gates:
            self._set_released(gate)

    def sent_text(self, request_index: int) -> str:
        """The reply text (content, not reasoning) written to the socket for that request.

        Recorded just before each write: it always holds everything a client has received,
        and equals it once the client saw the end, a fault, or a gate was reached.
        """
        with self._lock:
            return "".join(self._records[request_index].text)

    def sent_reasoning(self, request_index: int) -> str:
        with self._lock:
            return "".join(self._records[request_index].reasoning)

    def _gate(self, name: str) -> _Gate:
        with self._lock:
            gate = self._gates.get(name)
            if gate is None:
                gate = self._gates[name] = _Gate()
            return gate

    def wait_reached(self, name: str, timeout: float = 10) -> None:
        """Block until some stream paused at gate ``name`` (TimeoutError otherwise)."""
        if not self._gate(name).reached.wait(timeout):
            raise TimeoutError(f"no stream reached gate {name!r} within {timeout} s")

    async def areached(self, name: str, timeout: float = 10) -> None:
        await asyncio.to_thread(self.wait_reached, name, timeout)

    def reached(self, name: str) -> bool:
        return self._gate(name).reached.is_set()

    def release(self, name: str) -> None:
        """Let streams paused at gate ``name`` go on (also ones that reach it later)."""
        self._set_released(self._gate(name))

    def _set_released(self, gate: _Gate) -> None:
        gate.released_flag = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(gate.released.set)
            except RuntimeError:
                pass

    def request_index(self, model: str) -> int:
        """Index of the latest recorded request whose model string is ``model``."""
        with self._lock:
            for i in range(len(self.requests) - 1, -1, -1):
                if self.requests[i].get("model") == model:
                    return i
        raise KeyError(f"no request for model {model!r}")

    def wait_requests(self, count: int, timeout: float = 10) -> None:
        """Block until at least ``count`` requests were recorded."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                raise TimeoutError(f"{len(self.requests)} requests after {timeout} s, wanted {count}")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    # -- records and gates (server loop only)

    def _record(self, req: Request, protocol: str | None, payload: Any, sc: Scenario | None, rid: str) -> Record:
        rec = Record(
            {
                "index": -1,
                "method": req.method,
                "path": req.path,
                "headers": dict(req.headers),
                "json": payload,
                "model": sc.model if sc else (payload.get("model") if isinstance(payload, dict) else None),
                "scenario": asdict(sc) if sc else None,
                "protocol": protocol,
                "request_id": rid,
                "usage": None,
            }
        )
        with self._cond:
            rec.data["index"] = len(self.requests)
            self.requests.append(rec.data)
            self._records.append(rec)
            self._cond.notify_all()
        return rec

    async def _pause(self, name: str, reader: asyncio.StreamReader) -> None:
        """Wait at gate ``name`` until it is released; ClientGone if the client leaves first."""
        gate = self._gate(name)
        gate.reached.set()
        if gate.released_flag:
            return
        released = asyncio.ensure_future(gate.released.wait())
        gone = asyncio.ensure_future(wait_eof(reader))
        try:
            done, _ = await asyncio.wait({released, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (released, gone):
                if not t.done():
                    t.cancel()
            await asyncio.gather(released, gone, return_exceptions=True)
        if released not in done:
            raise ClientGone()
