"""A minimal headless-Chromium driver over the DevTools protocol (CDP), for the browser tests.

Starts Debian's ``chromium --headless`` with ``--remote-debugging-port=0``, reads the port it
chose from its stderr, and speaks CDP (JSON over a websocket) to its one page with aiohttp's
websocket client (aiohttp comes with textual-serve, so this needs no extra package).

Reading the terminal: textual-serve draws with xterm.js on a WebGL canvas, so the DOM holds no
text and the xterm object is private to its bundle. ``TERMINAL_HOOK`` runs before the page's
own scripts and wraps ``Function.prototype.bind``: xterm's public ``Terminal`` constructor binds
its option getters to itself, which hands us the object; ``screen_text`` then reads its buffer
through xterm's public API (``buffer.active.getLine(y).translateToString()``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from typing import Any

import aiohttp

TERMINAL_HOOK = """
(() => {
  const bind = Function.prototype.bind;
  window.__muxtuiTerminals = [];
  Function.prototype.bind = function (self, ...args) {
    if (self && typeof self === "object" && "_core" in self && "_addonManager" in self
        && !window.__muxtuiTerminals.includes(self)) {
      window.__muxtuiTerminals.push(self);
    }
    return bind.call(this, self, ...args);
  };
})();
"""

SCREEN_TEXT = """
(() => {
  const term = window.__muxtuiTerminals && window.__muxtuiTerminals[0];
  if (!term) return null;
  const buffer = term.buffer.active, lines = [];
  for (let y = 0; y < term.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page; ``async with Browser(path) as page: ...``."""

    def __init__(self, executable: str, width: int = 1280, height: int = 800) -> None:
        self.executable = executable
        self.size = (width, height)
        self.process: subprocess.Popen | None = None
        self._profile = tempfile.TemporaryDirectory(prefix="muxtui-chromium-")
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._listeners: list[tuple[str, asyncio.Queue]] = []
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> "Browser":
        try:
            return await self._start()
        except BaseException:
            await self.__aexit__(None, None, None)  # no chromium left behind by a failed start
            raise

    async def _start(self) -> "Browser":
        args = [
            self.executable, "--headless=new", "--remote-debugging-port=0",
            f"--user-data-dir={self._profile.name}", f"--window-size={self.size[0]},{self.size[1]}",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-dev-shm-usage",
            # Nothing leaves the machine: the page's web font fails at once instead of timing out.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run its sandbox as root
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        endpoint = await asyncio.wait_for(asyncio.to_thread(self._devtools_endpoint), 30)
        port = int(re.match(r"ws://[^:/]+:(\d+)/", endpoint).group(1))
        self._session = aiohttp.ClientSession()
        page_ws = None
        for _ in range(100):  # the first page target appears shortly after the endpoint
            async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                page_ws = pages[0]["webSocketDebuggerUrl"]
                break
            await asyncio.sleep(0.05)
        if page_ws is None:
            raise CDPError("chromium opened no page")
        self._ws = await self._session.ws_connect(page_ws, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send("Network.enable")
        await self.send("Page.addScriptToEvaluateOnNewDocument", source=TERMINAL_HOOK)
        return self

    def _devtools_endpoint(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        seen = []
        for _ in range(200):  # Chromium writes a few lines of noise first
            line = self.process.stderr.readline().decode("utf-8", "replace")
            if not line:
                break
            seen.append(line)
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            if match:
                # Keep draining its stderr so Chromium never blocks on a full pipe.
                threading_drain(self.process.stderr)
                return match.group(1)
        raise CDPError("chromium did not start its DevTools endpoint:\n" + "".join(seen[-20:]))

    async def __aexit__(self, *exc) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self.process is not None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 10)
        self._profile.cleanup()

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    if "error" in data:
                        future.set_exception(CDPError(str(data["error"])))
                    else:
                        future.set_result(data.get("result", {}))
            else:
                for method, queue in self._listeners:
                    if data.get("method") == method:
                        queue.put_nowait(data.get("params", {}))

    async def send(self, method: str, **params: Any) -> dict:
        assert self._ws is not None
        message_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self._ws.send_str(json.dumps({"id": message_id, "method": method, "params": params}))
        return await asyncio.wait_for(future, 30)

    def listen(self, method: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self._listeners.append((method, queue))
        return queue

    async def navigate(self, url: str) -> dict:
        """Load ``url``; return its document's response (status, headers) once it has loaded."""
        responses = self.listen("Network.responseReceived")
        loaded = self.listen("Page.loadEventFired")
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CDPError(f"navigating to the page failed: {result['errorText']}")
        await asyncio.wait_for(loaded.get(), 30)
        while True:
            params = await asyncio.wait_for(responses.get(), 5)
            if params.get("type") == "Document":
                return params["response"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CDPError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    async def screen_text(self) -> str | None:
        return await self.evaluate(SCREEN_TEXT)

    async def type_text(self, text: str) -> None:
        for char in text:
            await self.send("Input.dispatchKeyEvent", type="keyDown", text=char, key=char, unmodifiedText=char)
            await self.send("Input.dispatchKeyEvent", type="keyUp", key=char)

    async def press_enter(self) -> None:
        await self.send("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                        windowsVirtualKeyCode=13, nativeVirtualKeyCode=13, text="\r", unmodifiedText="\r")
        await self.send("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                        windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)


def threading_drain(stream) -> None:
    import threading

    def drain() -> None:
        while stream.read(65536):
            pass

    threading.Thread(target=drain, daemon=True).start()
