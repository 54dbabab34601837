"""The app as the bare ``muxtui`` command runs it, for the pty cases, plus timestamps from outside.

    python -m bench.trace_app            # muxtui.cli.main([]) on this terminal
    python -m bench.trace_app --bare     # baseline: a bare Textual app with one focused Input

With MUXTUI_BENCH_TRACE=FILE, hooks installed here (never in the app's code, so nothing is added to
its hot path when the variable is unset) append one JSON line per milestone to FILE, each stamped
with ``time.monotonic()`` (CLOCK_MONOTONIC: comparable with the pty reader's clock):

    {"t": ..., "what": "client"}                  an httpx.AsyncClient was built
    {"t": ..., "what": "request", "model": ...}   httpx is about to send a request (event hook)
    {"t": ..., "what": "response"}                its response headers arrived (event hook)
    {"t": ..., "what": "delta", "request_id"}     the engine's first STREAM_DELTA of a run
    {"t": ..., "what": "closed", "request_id"}    the run ended (any STREAM_CLOSED event)
    {"t": ..., "what": "user_mounted"}            ChatView.post returned (user message on the page)
    {"t": ..., "what": "live_mounted"}            ChatView.start_live returned (reply widget mounted)
    {"t": ..., "what": "warm_started"/"warm_done"} the HTTP warm-up at start-up (when it exists)
    {"t": ..., "what": "gc", "generation", "ms"}  a garbage collection that took over 10 ms

With MUXTUI_BENCH_PROFILE=PREFIX as well, pyinstrument samples the event loop's thread from each
STREAM_STARTED until 0.3 s after that run's first delta, into PREFIX.N.txt (N counts runs).
"""

from __future__ import annotations

import json
import os
import sys
import time


class Trace:
    def __init__(self, path: str) -> None:
        self.file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (lives as long as the process)

    def __call__(self, what: str, **data) -> None:
        self.file.write(json.dumps({"t": time.monotonic(), "what": what, **data}) + "\n")


def install(trace: Trace) -> None:
    import httpx

    from muxtui.engine import events as ev
    from muxtui.engine.manager import StreamManager
    from muxtui.ui.chat import ChatView

    async def on_request(request: httpx.Request) -> None:
        trace("request", url=str(request.url.path))

    async def on_response(response: httpx.Response) -> None:
        trace("response", status=response.status_code)

    original_client = httpx.AsyncClient.__init__

    def client_init(self, *args, **kwargs) -> None:
        hooks = dict(kwargs.pop("event_hooks", None) or {})
        hooks["request"] = [*hooks.get("request", []), on_request]
        hooks["response"] = [*hooks.get("response", []), on_response]
        original_client(self, *args, event_hooks=hooks, **kwargs)
        trace("client")

    httpx.AsyncClient.__init__ = client_init

    seen: set[str] = set()
    prefix = os.environ.get("MUXTUI_BENCH_PROFILE")
    profiling: list = []

    def stop_profile() -> None:
        profiler = profiling.pop()
        profiler.stop()
        from pyinstrument.renderers import ConsoleRenderer

        with open(f"{prefix}.{len(seen)}.txt", "w", encoding="utf-8") as out:
            out.write(profiler.output_text(unicode=False, show_all=True))
        with open(f"{prefix}.{len(seen)}.flat.txt", "w", encoding="utf-8") as out:
            out.write(profiler.output(ConsoleRenderer(unicode=False, flat=True, time="seconds")))

    def on_event(event) -> None:
        if event.type == ev.STREAM_DELTA:
            rid = event.data.get("request_id") or ""
            if rid not in seen:
                seen.add(rid)
                trace("delta", request_id=rid)
                if profiling:
                    import asyncio

                    asyncio.get_running_loop().call_later(0.3, stop_profile)
        elif event.type in ev.STREAM_CLOSED:
            trace("closed", request_id=event.data.get("request_id"), type=event.type)
        elif event.type == ev.STREAM_STARTED:
            trace("started", request_id=event.data.get("request_id"))
            if prefix and not profiling:
                from pyinstrument import Profiler

                profiling.append(Profiler(interval=0.001, async_mode="disabled"))
                profiling[0].start()

    original_manager = StreamManager.__init__

    def manager_init(self, *args, **kwargs) -> None:
        original_manager(self, *args, **kwargs)
        self.subscribe(on_event)

    StreamManager.__init__ = manager_init

    original_post, original_live = ChatView.post, ChatView.start_live

    async def post(self, *args, **kwargs):
        await original_post(self, *args, **kwargs)
        trace("user_mounted")

    async def start_live(self, *args, **kwargs):
        await original_live(self, *args, **kwargs)
        trace("live_mounted")

    ChatView.post, ChatView.start_live = post, start_live

    from muxtui.engine.providers import http

    if hasattr(http, "warm"):
        original_warm = http.warm

        def warm() -> None:
            trace("warm_started")
            original_warm()
            trace("warm_done")

        http.warm = warm

    import gc

    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:  # a long collection inside a window explains it
        if phase == "start":
            started[0] = time.monotonic()
        elif time.monotonic() - started[0] > 0.01:
            trace("gc", generation=info["generation"], ms=round((time.monotonic() - started[0]) * 1000))

    gc.callbacks.append(on_gc)


def experiments(names: str) -> None:
    """MUXTUI_BENCH_EXPERIMENT=a,b: what a fix would buy, measured before anyone writes it.
    ``footer``: the Footer never recomposes after start-up (as if its keys were stable);
    ``noblink``: the composer's cursor does not blink."""
    if "noblink" in names.split(","):
        from muxtui.ui.composer import Composer

        original_init = Composer.__init__

        def init(self, *args, **kwargs) -> None:
            original_init(self, *args, **kwargs)
            self.cursor_blink = False

        Composer.__init__ = init
    if "footer" in names.split(","):
        from textual.widgets import Footer

        original = Footer.bindings_changed

        def once(self, screen) -> None:
            if not self._bindings_ready:
                original(self, screen)

        Footer.bindings_changed = once


def bare() -> int:
    """The idle baseline: what Textual itself costs with a focused, blinking Input."""
    from textual.app import App
    from textual.widgets import Footer, Header, Input

    class Bare(App):
        def compose(self):
            yield Header()
            yield Input(placeholder="type here")
            yield Footer()

    Bare().run()
    return 0


def main() -> int:
    if "--bare" in sys.argv[1:]:
        return bare()
    path = os.environ.get("MUXTUI_BENCH_TRACE")
    if path:
        install(Trace(path))
    experiments(os.environ.get("MUXTUI_BENCH_EXPERIMENT", ""))
    from muxtui.cli import main as cli_main

    return cli_main(["--no-engine"])  # the engine in this process: the hooks above are on it


if __name__ == "__main__":
    sys.exit(main())
