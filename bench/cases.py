"""One bench case per process: ``python -m bench.cases CASE --base-url URL [options]``.

Prints one ``RESULT {json}`` line. Run by bench/__main__.py with MUXTUI_HOME (and HOME, XDG_*)
pointing into a temp dir; never touches the real user's folders.

Debug aids (environment): MUXTUI_BENCH_STALLS=MS prints the loop thread's stack whenever the
event loop is blocked longer than MS, plus GC pause totals; MUXTUI_BENCH_PROFILE=FILE writes a
pyinstrument report of the measured window; MUXTUI_BENCH_OBJECTS=1 prints a census of live
objects after a long reply; MUXTUI_BENCH_GC (see ``--gc``) tunes the app's garbage collector.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    SIZE,
    LagTicker,
    last_committed,
    model,
    peak_rss_mb,
    reply_text,
    result,
    tail_words,
    wait_on_screen,
)


# ---- baselines --------------------------------------------------------------------------------


async def _sse_deltas(base_url: str, spec: str):
    """Yield content deltas of the fake server's stream, as a plain httpx consumer."""
    import httpx

    body = {"model": spec, "messages": [{"role": "user", "content": "bench"}], "stream": True}
    headers = {"authorization": f"Bearer {os.environ.get('MUXTUI_BENCH_KEY', 'x')}"}
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
        async with client.stream("POST", base_url + "/chat/completions", json=body, headers=headers) as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                event = json.loads(data)
                for choice in event.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        yield text


async def raw_httpx(args: argparse.Namespace) -> None:
    """(a) A raw httpx consumer of the same stream: the floor for everything else."""
    expected = reply_text(args.chunks)
    c0, t0 = time.process_time(), time.perf_counter()
    parts = [delta async for delta in _sse_deltas(args.base_url, model(args.chunks, delay_ms=args.pace_ms))]
    seconds = time.perf_counter() - t0
    result(seconds=seconds, cpu=time.process_time() - c0, rss=peak_rss_mb(), lag_ms=None,
           ok="".join(parts) == expected)


def _bare_app(widget_factory):
    from textual.app import App
    from textual.containers import VerticalScroll

    class Bare(App):
        def compose(self):
            with VerticalScroll(id="scroll"):
                yield widget_factory()

    return Bare()


async def static_markdown(args: argparse.Namespace) -> None:
    """(b) One static render of the finished text into a single Textual Markdown widget."""
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    text = reply_text(args.chunks)
    app = _bare_app(Markdown)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        markdown = app.query_one(Markdown)
        scroll = app.query_one(VerticalScroll)
        scroll.anchor()
        ticker = LagTicker()
        ticker.start()
        c0, t0 = time.process_time(), time.perf_counter()
        await markdown.update(text)
        done = await wait_on_screen(app, scroll, tail_words(text))
        lag = await ticker.stop()
        result(seconds=done - t0, cpu=time.process_time() - c0, rss=peak_rss_mb(), lag_ms=lag * 1000,
               ok=markdown.source == text, widgets=len(list(markdown.walk_children())))


async def get_stream_markdown(args: argparse.Namespace) -> None:
    """(c) A bare app streaming into one Markdown widget through Markdown.get_stream."""
    from textual.containers import VerticalScroll
    from textual.widgets import Markdown

    text = reply_text(args.chunks)
    app = _bare_app(Markdown)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        markdown = app.query_one(Markdown)
        scroll = app.query_one(VerticalScroll)
        scroll.anchor()
        finished = asyncio.Event()

        async def consume() -> None:
            stream = Markdown.get_stream(markdown)
            try:
                async for delta in _sse_deltas(args.base_url, model(args.chunks)):
                    await stream.write(delta)
            finally:
                await stream.stop()
                finished.set()

        ticker = LagTicker()
        ticker.start()
        c0, t0 = time.process_time(), time.perf_counter()
        app.run_worker(consume(), name="consume")
        done = await wait_on_screen(app, scroll, tail_words(text), ready=finished.is_set)
        lag = await ticker.stop()
        result(seconds=done - t0, cpu=time.process_time() - c0, rss=peak_rss_mb(), lag_ms=lag * 1000,
               ok=markdown.source == text, widgets=len(list(markdown.walk_children())))


# ---- the real app -----------------------------------------------------------------------------


def _count_partial_writes() -> Counter:
    """Count WorkspaceStore.write_partial calls per workspace (the engine calls it in a thread)."""
    from muxtui.engine import storage

    counts: Counter = Counter()
    original = storage.WorkspaceStore.write_partial

    def counting(self, partial):
        counts[self.id] += 1
        return original(self, partial)

    storage.WorkspaceStore.write_partial = counting
    return counts


class _Profile:
    """MUXTUI_BENCH_PROFILE=FILE: pyinstrument over the measured window, text report to FILE."""

    def __init__(self) -> None:
        self.path = os.environ.get("MUXTUI_BENCH_PROFILE")
        self.profiler = None

    def __enter__(self) -> "_Profile":
        if self.path:
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.001, async_mode="disabled")
            self.profiler.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.profiler is not None:
            self.profiler.stop()
            Path(self.path).write_text(self.profiler.output_text(unicode=False, show_all=True))
            Path(self.path + ".flat").write_text(
                self.profiler.output(__import__("pyinstrument").renderers.ConsoleRenderer(
                    unicode=False, flat=True, time="percent_of_total")))


def _gc_tuning() -> None:
    """``--gc`` experiments (MUXTUI_BENCH_GC=freeze|threshold|freeze+threshold): what GC tuning in
    the app would buy. Applied once the app has started, before the measured window."""
    import gc

    mode = os.environ.get("MUXTUI_BENCH_GC", "app")  # "app": the app's own tuning (the default)
    if "freeze" in mode:
        gc.collect()
        gc.freeze()
    if "threshold" in mode:
        gc.set_threshold(10_000, 20, 20)


def _make_app():
    from muxtui import config as config_mod
    from muxtui.paths import Paths
    from muxtui.ui.app import MuxApp

    paths = Paths.default()
    # As `muxtui` runs it: run_app tunes the garbage collector once the app has started.
    return MuxApp(paths, config_mod.load_or_default(paths.config_file), animate=True,
                  tune_gc=os.environ.get("MUXTUI_BENCH_GC", "app") == "app"), paths


def _press(app, key: str, character: str | None) -> None:
    """What Pilot.press does, without its wait-until-idle (the app is never idle here)."""
    from textual import events

    from muxtui.ui.textual_private import send_to_driver

    event = events.Key(key, character)
    event.set_sender(app)
    send_to_driver(app, event)


def _live_body(app):
    from muxtui.ui.messages import AssistantMessage

    messages = list(app.chat.query(AssistantMessage))
    return messages[-1].body if messages else None


async def app_long(args: argparse.Namespace) -> None:
    """1. A long reply in the real app: from Enter until on screen and committed to disk."""
    counts = _count_partial_writes()
    expected = reply_text(args.chunks)
    app, paths = _make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.started.wait()
        await pilot.pause()
        _gc_tuning()
        ws_id = app.current_id
        await app.engine.set_model(ws_id, "fake:" + model(args.chunks, delay_ms=args.pace_ms))
        chat_file = paths.workspaces_dir / ws_id / "chat.jsonl"
        app.composer.set_draft("bench: write a long answer")
        await pilot.pause()
        cache: dict[str, Any] = {}
        marks: dict[str, float] = {}

        def ready() -> bool:
            last = last_committed(chat_file, cache)
            if not last or last.get("role") != "assistant":
                return False
            marks.setdefault("committed", time.perf_counter())
            body = _live_body(app)
            return body is not None and body.rendered

        ticker = LagTicker()
        ticker.start()
        c0, t0 = time.process_time(), time.perf_counter()
        with _Profile():
            _press(app, "enter", None)
            done = await wait_on_screen(app, app.chat, tail_words(expected), ready=ready)
        lag = await ticker.stop()
        cpu = time.process_time() - c0
        body = _live_body(app)
        committed = last_committed(chat_file, cache) or {}
        stream_seconds = marks["committed"] - t0
        writes = counts.get(ws_id, 0)
        if os.environ.get("MUXTUI_BENCH_OBJECTS"):
            import gc
            import sys

            gc.collect()
            objects = gc.get_objects()
            print("objects", len(objects), Counter(type(o).__name__ for o in objects).most_common(25), file=sys.stderr)
        result(seconds=done - t0, cpu=cpu, rss=peak_rss_mb(), lag_ms=lag * 1000,
               ok=committed.get("content") == expected and body is not None and body.text == expected,
               stream_seconds=stream_seconds, partial_writes=writes,
               writes_per_s=writes / stream_seconds if stream_seconds else None,
               widgets=len(list(body.walk_children())) if body is not None else None,
               flushes=getattr(body, "flushes", None))


async def app_many(args: argparse.Namespace) -> None:
    """3. Eight workspaces streaming at human speed while keys are typed into the composer."""
    from muxtui.ui.textual_private import on_keyboard_edit

    counts = _count_partial_writes()
    app, _paths = _make_app()
    chunks = int(args.seconds * 1000 / args.delay_ms) + 2000  # still streaming when the window ends
    async with app.run_test(size=SIZE) as pilot:
        await app.started.wait()
        ids = [app.current_id] if args.workspaces else []
        for n in range(args.workspaces - 1):
            info = await app.engine.manager.create_workspace(f"bench {n + 2}")
            app.tracker.add(info)
            ids.append(info.id)
        for n, ws_id in enumerate(ids):
            await app.engine.set_model(ws_id, "fake:" + model(chunks, seed=n + 1, delay_ms=args.delay_ms))
        await pilot.pause()
        _gc_tuning()
        for ws_id in ids:
            await app.engine.manager.send(ws_id, "bench: stream for a while")
        while not all(app.engine.manager.is_streaming(ws_id) for ws_id in ids):
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # streams under way, live reply mounted
        composer = app.composer
        composer.focus()
        changed = asyncio.Event()
        on_keyboard_edit(composer, changed.set)
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        ticker = LagTicker()
        ticker.start()
        before = dict(counts)
        c0, t0 = time.process_time(), time.perf_counter()
        n = 0
        profile = _Profile().__enter__()
        while time.perf_counter() - t0 < args.seconds:
            character = "abcdefghij"[n % 10]
            n += 1
            changed.clear()
            shown: asyncio.Future[float] = loop.create_future()
            start = time.perf_counter()
            _press(app, character, character)
            await asyncio.wait_for(changed.wait(), 10)
            app.call_after_refresh(lambda: shown.done() or shown.set_result(time.perf_counter()))
            latencies.append(await asyncio.wait_for(shown, 10) - start)
            if len(composer.text) > 200:
                composer.set_draft("")
            await asyncio.sleep(0.2)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        profile.__exit__(None, None, None)
        lag = await ticker.stop()
        per_ws = [(counts.get(ws_id, 0) - before.get(ws_id, 0)) / wall for ws_id in ids] or [0.0]
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
        streaming = sum(app.engine.manager.is_streaming(ws_id) for ws_id in ids)
        result(seconds=wall, cpu=cpu, cpu_pct=100 * cpu / wall, rss=peak_rss_mb(), lag_ms=lag * 1000,
               key_p50_ms=1000 * statistics.median(latencies), key_p99_ms=1000 * p99, keys=len(latencies),
               writes_per_s=max(per_ws), writes_per_s_mean=sum(per_ws) / len(per_ws),
               still_streaming=streaming, ok=streaming == len(ids))


async def app_folder(args: argparse.Namespace) -> None:
    """4. Start-up on a data folder: time to first frame; optionally open the big workspace."""
    import muxtui.ui.app  # noqa: F401  (imports are not part of start-up time here)

    info = json.loads(Path(args.folder_info).read_text()) if args.folder_info else None
    profile = _Profile().__enter__()
    t0 = time.perf_counter()
    app, _paths = _make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.started.wait()
        loop = asyncio.get_running_loop()
        frame: asyncio.Future[float] = loop.create_future()
        app.call_after_refresh(lambda: frame.done() or frame.set_result(time.perf_counter()))
        first_frame = await frame - t0
        figures: dict[str, Any] = {"first_frame": first_frame}
        if info is not None:
            ticker = LagTicker()
            ticker.start()
            t1 = time.perf_counter()
            await app.select_workspace(info["big_id"])
            done = await wait_on_screen(app, app.chat, tail_words(info["big_last"]))
            figures["open_big"] = done - t1
            figures["lag_ms"] = (await ticker.stop()) * 1000
            seed = [w for w in app.workers if w.name == "seed-badges"]
            t2 = time.perf_counter()
            for worker in seed:
                await worker.wait()
            figures["seed_badges"] = time.perf_counter() - t1 if seed else None
            figures["seed_wait"] = time.perf_counter() - t2
        profile.__exit__(None, None, None)
        await pilot.pause()
        result(rss=peak_rss_mb(), ok=True, **figures)


SEARCH_QUERIES = ["zanzibarquux", "the", "function error", "python", "pyth", "functi", "code value",
                  "ws:project the", 'ws:"project 500" data', "role:user model:model-3 code", "AND OR NOT",
                  '"unbalanced', "request server test"]


async def search_big(args: argparse.Namespace) -> None:
    """6. Search on a big folder: the app builds the index in the background (event-loop lag and
    key latency meanwhile), then query latency over a fixed set of queries, and an incremental
    update after one more message."""
    from muxtui.engine.search import SearchIndex

    app, paths = _make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.started.wait()
        t0 = time.perf_counter()
        ticker = LagTicker()
        ticker.start()
        keys: list[float] = []
        composer = app.composer
        while not app.engine.indexer.ready.is_set():  # bounded by the build; typing meanwhile
            k = time.perf_counter()
            _press(app, "x", "x")
            await pilot.pause()
            keys.append(time.perf_counter() - k)
            if time.perf_counter() - t0 > 900:
                raise TimeoutError("index build took over 15 minutes")
        build = time.perf_counter() - t0
        lag = await ticker.stop()
        typed = composer.text.count("x")
        # The same app with the index idle, as a baseline for what the build costs the UI.
        ticker = LagTicker()
        ticker.start()
        idle_keys: list[float] = []
        t1 = time.perf_counter()
        while time.perf_counter() - t1 < min(10.0, build):
            k = time.perf_counter()
            _press(app, "x", "x")
            await pilot.pause()
            idle_keys.append(time.perf_counter() - k)
        idle_lag = await ticker.stop()
        idle_keys.sort()
        idle_p99 = idle_keys[min(len(idle_keys) - 1, int(round(0.99 * (len(idle_keys) - 1))))]
        index = app.engine.indexer.index
        count = await asyncio.to_thread(index.count)
        reader = SearchIndex(paths.data_dir)
        latencies: dict[str, float] = {}
        for q in SEARCH_QUERIES:
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                hits = await asyncio.to_thread(reader.search, q, 50)
                best = min(best, time.perf_counter() - t)
            latencies[q] = best
        needle = await asyncio.to_thread(reader.search, "zanzibarquux")
        keys.sort()
        p99 = keys[min(len(keys) - 1, int(round(0.99 * (len(keys) - 1))))] if keys else None
        result(messages=count, build_s=build, lag_ms=lag * 1000, idle_lag_ms=idle_lag * 1000,
               idle_key_p99_ms=idle_p99 * 1000, idle_keys=len(idle_keys), key_p99_ms=None if p99 is None else p99 * 1000,
               keys=len(keys), typed=typed, query_max_ms=max(latencies.values()) * 1000,
               query_p50_ms=statistics.median(latencies.values()) * 1000,
               slowest=max(latencies, key=latencies.get), index_mb=index.path.stat().st_size / 1e6,
               ok=len(needle) == 1, rss=peak_rss_mb())

# ---- hostile reply shapes -----------------------------------------------------------------------


async def shape_render(args: argparse.Namespace) -> None:
    """6. One hostile shape (muxtui.testing.hostile_markdown) into a StreamingMarkdown in a bare
    app: streamed (2,000-character chunks, as fast as the loop takes them) or finished (as a
    workspace opens it). Until the whole text is rendered and the plain-first blocks styled.
    Baseline in the same process: markdown-it parsing the whole text once (the floor)."""
    from markdown_it import MarkdownIt
    from textual.containers import VerticalScroll

    from muxtui.testing import hostile_markdown
    from muxtui.ui import markdown
    from muxtui.ui.markdown import steps as sm

    if args.step_target:
        sm.STEP_TARGET = args.step_target  # a slow machine: every step costs more than this
    _, text, last = hostile_markdown.shape(args.shape, args.scale)
    p0 = time.perf_counter()
    MarkdownIt("gfm-like", {"html": False}).parse(text)
    parse_floor = time.perf_counter() - p0
    finished = args.mode == "finished"
    holder: dict[str, Any] = {}

    def make():
        widget = holder["w"] = markdown.StreamingMarkdown(text if finished else "", streaming=not finished)
        return widget

    from textual.app import App

    class Bare(App):
        def __init__(self) -> None:
            super().__init__()
            self.started = asyncio.Event()

        def compose(self):
            with VerticalScroll(id="scroll"):
                if not finished:
                    yield make()

        def on_mount(self) -> None:
            self.started.set()

    app = Bare()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        scroll = app.query_one(VerticalScroll)
        ticker = LagTicker()
        ticker.start()
        c0, t0 = time.process_time(), time.perf_counter()
        if finished:
            await scroll.mount(make())
        widget = holder["w"]
        if not finished:
            for start in range(0, len(text), 2000):
                widget.append(text[start : start + 2000])
                await asyncio.sleep(0)
            await widget.finish()
        deadline = time.perf_counter() + 900
        while not widget.rendered and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(widget.wait_styled(), max(1.0, deadline - time.perf_counter()))
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - c0
        lag = await ticker.stop()
        ok = widget.rendered and widget.text == text and last in "".join(widget.painted_text().split())
        result(seconds=seconds, cpu=cpu, rss=peak_rss_mb(), lag_ms=lag * 1000, ok=ok, chars=len(text),
               parse_floor=parse_floor, flushes=widget.flushes)


# ---- memory over a day: many replies in one workspace ------------------------------------------


def _rss_now_mb() -> float:
    """Resident set size now (not the peak): /proc/self/statm, Linux."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def app_soak(args: argparse.Namespace) -> None:
    """Many replies in one workspace, each sent with Enter and waited for on screen and on disk.
    At each checkpoint (after that reply, outside the timed window): RSS now, live gc objects
    after a full collection, widgets in the DOM. Every reply's time from Enter to done."""
    import gc

    from textual.widget import Widget

    checkpoints = sorted({int(x) for x in args.checkpoints.split(",") if x.strip()})
    replies = checkpoints[-1]
    expected = reply_text(args.chunks)
    words = tail_words(expected)
    app, paths = _make_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.started.wait()
        await pilot.pause()
        _gc_tuning()
        ws_id = app.current_id
        await app.engine.set_model(ws_id, "fake:" + model(args.chunks))
        chat_file = paths.workspaces_dir / ws_id / "chat.jsonl"
        cache: dict[str, Any] = {}
        times: list[float] = []
        points: list[dict[str, Any]] = []
        previous = None
        ok = True
        for n in range(1, replies + 1):
            app.composer.set_draft(f"soak {n}: another answer please")
            await pilot.pause()

            def ready() -> bool:
                last = last_committed(chat_file, cache)
                if not last or last.get("role") != "assistant" or last.get("id") == previous:
                    return False
                body = _live_body(app)
                return app.chat.live is None and body is not None and body.rendered

            t0 = time.perf_counter()
            _press(app, "enter", None)
            done = await wait_on_screen(app, app.chat, words, ready=ready, timeout=120)
            times.append(done - t0)
            last = last_committed(chat_file, cache) or {}
            previous = last.get("id")
            ok = ok and last.get("content") == expected
            if n in checkpoints:
                await app.drain()
                gc.collect()
                objects = gc.get_objects()
                types = Counter(type(o).__name__ for o in objects)
                alive = Counter(type(o).__name__ for o in objects if isinstance(o, Widget))
                points.append({"reply": n, "rss": _rss_now_mb(), "objects": len(objects),
                               "frozen": gc.get_freeze_count(),
                               "widgets": sum(1 for _ in app.screen.walk_children()),
                               "alive": sum(alive.values()), "alive_types": dict(alive),
                               "types": dict(types.most_common(60))})
                del objects
                print(f"soak: reply {n}: {points[-1]}, last reply {times[-1]:.2f} s", file=sys.stderr)
        # What grew between the second checkpoint and the last: the leak's suspects, by type.
        base, end = points[min(1, len(points) - 1)]["types"], points[-1]["types"]
        growth = sorted(((end.get(k, 0) - base.get(k, 0), k) for k in end), reverse=True)[:12]
        base, end = points[min(1, len(points) - 1)]["alive_types"], points[-1]["alive_types"]
        widget_growth = sorted(((end.get(k, 0) - base.get(k, 0), k) for k in end), reverse=True)[:6]
        early = times[max(0, args.early - 5):args.early + 5]  # ten replies around reply `early`
        late = times[-10:]
        result(ok=ok, times=times, points=points, growth=[[k, n] for n, k in growth],
               widget_growth=[[k, n] for n, k in widget_growth if n > 0],
               early_median=statistics.median(early),
               late_median=statistics.median(late), late_max=max(late), worst=max(times), rss=peak_rss_mb())


# ---- time to first token, on a real pty --------------------------------------------------------


def _trace(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


async def _wait_trace(path: Path, what: str, after: float, timeout: float = 120) -> dict[str, Any]:
    """The first `what` milestone stamped after `after` (polls the trace file, bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in _trace(path):
            if item["what"] == what and item["t"] >= after:
                return item
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no {what!r} in the trace after {timeout:g} s")


def _pty_home(args: argparse.Namespace, spec: str) -> tuple[Path, dict[str, str]]:
    """This case's MUXTUI_HOME with `spec` as the default model; the env for the app with a trace."""
    from bench.common import write_home

    home = Path(os.environ["MUXTUI_HOME"])
    write_home(home, args.base_url, spec)
    trace = home.parent / "trace.jsonl"
    trace.unlink(missing_ok=True)
    return trace, dict(os.environ, MUXTUI_BENCH_TRACE=str(trace))


def _chat_rows(app, prompt: str) -> tuple[int, list[str]]:
    """The screen's rows and the index of the last row showing `prompt` (-1 when none)."""
    rows = app.screen.display
    index = max((i for i, row in enumerate(rows) if prompt in row), default=-1)
    return index, rows


async def pty_ttft(args: argparse.Namespace) -> None:
    """Enter -> first reply words on a real terminal, split by the app's own milestones (trace
    hooks installed from outside by bench.trace_app). Reply 1 comes `--think` seconds after the
    first frame (a cold app); replies 2.. follow in the same workspace (a warm one)."""
    from bench.ptyapp import PtyApp

    from muxtui.testing.fakeserver import FakeServer

    # A server of its own: its record of when each request arrived is "request sent".
    server = FakeServer().start()
    args.base_url = server.openai_base_url
    trace, env = _pty_home(args, model(args.chunks, delay_ms=args.pace_ms, first_delay_ms=args.first_delay_ms))
    first_words = "Here"  # the first chunk of every bench reply
    app = PtyApp(120, 40, env=env).start()
    samples: list[dict[str, float]] = []
    try:
        started = time.monotonic()
        await app.wait_text("New conversation", 120)
        first_frame = time.monotonic() - started
        await asyncio.sleep(args.think)  # a user reads the screen before typing
        for n in range(1, args.replies + 1):
            prompt = f"ttft probe {n} kqzj"
            await app.type(prompt)
            await app.wait_text(prompt, 30)
            await asyncio.sleep(0.3)  # the typing has settled

            def painted(prompt: str = prompt) -> bool:
                index, rows = _chat_rows(app, prompt)
                return index >= 0 and any(first_words in row for row in rows[index + 1:])

            t0 = time.monotonic()
            app.write(b"\r")
            paint = await app.wait_for(painted, 60)
            request = await _wait_trace(trace, "request", t0)
            response = await _wait_trace(trace, "response", t0)
            delta = await _wait_trace(trace, "delta", t0)
            await _wait_trace(trace, "closed", t0)  # the reply is over before the next one
            marks = {item["what"]: item["t"] for item in reversed(_trace(trace)) if item["t"] >= t0}
            marks.update({i["what"]: i["t"] for i in _trace(trace) if i["what"] == "warm_done"})
            samples.append({
                "request": request["t"] - t0, "arrived": server.requests[-1]["received_at"] - t0,
                "response": response["t"] - t0, "delta": delta["t"] - t0,
                "paint": paint - t0, "user_mounted": marks.get("user_mounted", t0) - t0,
                "live_mounted": marks.get("live_mounted", t0) - t0,
                "clients_built": sum(1 for i in _trace(trace) if i["what"] == "client" and t0 <= i["t"] <= request["t"]),
                "gc_ms": sum(i["ms"] for i in _trace(trace) if i["what"] == "gc" and t0 <= i["t"] <= paint) / 1000,
                "warm_done": marks.get("warm_done", 0.0) and marks["warm_done"] - t0,
            })
            print(f"ttft: reply {n}: " + ", ".join(f"{k} {v * 1000:.0f} ms" if isinstance(v, float) else f"{k} {v}"
                                                     for k, v in samples[-1].items()), file=sys.stderr)
            await asyncio.sleep(args.think)  # the user reads the reply
    finally:
        await app.close()
        server.stop()
    cold, warm = samples[0], samples[1:]
    warm_median = {k: statistics.median(s[k] for s in warm) for k in cold} if warm else {}
    result(ok=True, first_frame=first_frame, cold=cold, warm=warm_median, samples=samples)


async def raw_ttft(args: argparse.Namespace) -> None:
    """The floor for TTFT: a raw httpx consumer's POST -> first delta, its client already built and
    its first-use imports done (a throwaway request first), on a new connection every time."""
    import httpx

    spec = model(args.chunks, delay_ms=args.pace_ms, first_delay_ms=args.first_delay_ms)
    async for _ in _sse_deltas(args.base_url, model(5)):
        pass
    body = {"model": spec, "messages": [{"role": "user", "content": "bench"}], "stream": True}
    headers = {"authorization": f"Bearer {os.environ.get('MUXTUI_BENCH_KEY', 'x')}"}
    samples = []
    for _ in range(args.replies):
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
            t0 = time.perf_counter()
            first = None
            async with client.stream("POST", args.base_url + "/chat/completions", json=body, headers=headers) as rsp:
                async for line in rsp.aiter_lines():
                    if first is None and line.startswith("data:") and '"content"' in line:
                        first = time.perf_counter() - t0
            samples.append(first)
    result(ok=all(s is not None for s in samples), first_delta=statistics.median(samples), samples=samples)


# ---- terminal bytes, a slow terminal, and idle ------------------------------------------------


async def pty_stream(args: argparse.Namespace) -> None:
    """One known reply streamed into the app on a real 120x40 pty: bytes the app writes from Enter
    until the reply's end is on screen, per byte of reply; optionally the pty drained at only
    `--drain` bytes/s, and keys typed during the stream (echo lag: key -> on the screen)."""
    from bench.ptyapp import PtyApp

    spec = model(args.chunks, delay_ms=args.pace_ms)
    expected = reply_text(args.chunks)
    words = tail_words(expected)
    trace, env = _pty_home(args, spec)
    app = PtyApp(120, 40, drain_bytes_per_s=args.drain, env=env).start()
    lags: list[float] = []
    try:
        await app.wait_text("New conversation", 120)
        await asyncio.sleep(args.think)  # a user reads the screen before typing
        prompt = "stream probe kqzj"
        await app.type(prompt)
        await app.wait_text(prompt, 60)
        await asyncio.sleep(0.3)  # the typing has settled
        b0, c0, t0 = app.bytes, app.cpu_seconds(), time.monotonic()
        app.write(b"\r")
        typed = "ZZ"  # no bench reply has it: the typed text is found on the screen, not a stray letter
        if args.keys:
            await _wait_trace(trace, "delta", t0)
            app.write(typed.encode())
            await app.wait_for(lambda: typed in app.text(), 60)
            alphabet = "kqzjxv"
            while len(typed) < 50 and not any(i["what"] == "closed" and i["t"] >= t0 for i in _trace(trace)):
                typed += alphabet[len(typed) % len(alphabet)]
                k = time.monotonic()
                app.write(typed[-1].encode())
                shown = await app.wait_for(lambda s=typed: s in app.text(), 60)
                lags.append(shown - k)
                await asyncio.sleep(max(0.0, 0.25 - (time.monotonic() - k)))
        closed = await _wait_trace(trace, "closed", t0, timeout=600)
        tail = await app.wait_text(words, 600)
        b1, c1 = app.bytes, app.cpu_seconds()
        delta = await _wait_trace(trace, "delta", t0)
    finally:
        await app.close()
    lags.sort()
    reply_bytes = len(expected.encode())
    from bench.ptyapp import classify

    result(ok=True, bytes=b1 - b0, reply_bytes=reply_bytes, per_reply_byte=(b1 - b0) / reply_bytes,
           made_of=classify(bytes(app.raw[b0:b1])),
           stream_s=closed["t"] - delta["t"], tail_s=tail - t0, tail_after_close_s=tail - closed["t"],
           cpu=c1 - c0, bytes_per_s=(b1 - b0) / max(1e-9, tail - t0), keys=len(lags),
           echo_p50_ms=1000 * statistics.median(lags) if lags else None,
           echo_max_ms=1000 * lags[-1] if lags else None)


async def pty_idle(args: argparse.Namespace) -> None:
    """Nothing streaming: the app's CPU and the bytes it writes per second, on a real pty, over a
    window after start-up has settled. `--bare`: a bare Textual app with a focused Input instead;
    `--no-blink`: the app with `[ui] cursor_blink = false`."""
    from bench.ptyapp import PtyApp

    _trace_file, env = _pty_home(args, model(20))
    if args.no_blink:
        with (Path(os.environ["MUXTUI_HOME"]) / "config.toml").open("a", encoding="utf-8") as config:
            config.write("\n[ui]\ncursor_blink = false\n")
    app = PtyApp(120, 40, bare=args.bare, env=env).start()
    try:
        await app.wait_text("type here" if args.bare else "New conversation", 120)
        await asyncio.sleep(args.think)
        b0, c0, t0 = app.bytes, app.cpu_seconds(), time.monotonic()
        await asyncio.sleep(args.seconds)
        b1, c1, t1 = app.bytes, app.cpu_seconds(), time.monotonic()
        rss = app.rss_mb()
    finally:
        await app.close()
    wall = t1 - t0
    result(ok=True, cpu_pct=100 * (c1 - c0) / wall, bytes_per_s=(b1 - b0) / wall, seconds=wall, rss=rss)


CASES = {
    "search_big": search_big,
    "raw_httpx": raw_httpx,
    "static_markdown": static_markdown,
    "get_stream_markdown": get_stream_markdown,
    "app_long": app_long,
    "app_many": app_many,
    "app_folder": app_folder,
    "shape_render": shape_render,
    "app_soak": app_soak,
    "pty_ttft": pty_ttft,
    "raw_ttft": raw_ttft,
    "pty_stream": pty_stream,
    "pty_idle": pty_idle,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cases")
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--base-url", default="")
    parser.add_argument("--chunks", type=int, default=5000)
    parser.add_argument("--workspaces", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--delay-ms", type=float, default=10.0)
    parser.add_argument("--folder-info", default="")
    parser.add_argument("--shape", default="code_4k")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--mode", choices=["streamed", "finished"], default="streamed")
    parser.add_argument("--step-target", type=float, default=0.0)
    parser.add_argument("--pace-ms", type=float, default=0.0, help="pause between chunks of the reply")
    parser.add_argument("--first-delay-ms", type=float, default=0.0, help="the server's time to first token")
    parser.add_argument("--checkpoints", default="1,50,100,200,300", help="soak: replies to measure after")
    parser.add_argument("--early", type=int, default=10, help="soak: the early reply times compare with")
    parser.add_argument("--replies", type=int, default=4, help="ttft: replies (the first one cold)")
    parser.add_argument("--think", type=float, default=1.0, help="pty: seconds after the first frame")
    parser.add_argument("--drain", type=float, default=0.0, help="pty: read at most this many bytes/s")
    parser.add_argument("--keys", action="store_true", help="pty: type keys during the stream")
    parser.add_argument("--bare", action="store_true", help="pty idle: a bare Textual app instead")
    parser.add_argument("--no-blink", action="store_true", help="pty idle: [ui] cursor_blink = false")
    args = parser.parse_args()
    stalls = os.environ.get("MUXTUI_BENCH_STALLS")

    async def run() -> None:
        watch = None
        if stalls:
            from bench.common import StallWatch

            watch = StallWatch(float(stalls))
            watch.start()
        try:
            await CASES[args.case](args)
        finally:
            if watch is not None:
                watch.report()

    asyncio.run(run())


if __name__ == "__main__":
    main()
