"""One hostile reply through the real app, in its own process: ``python -m tests.stress.render_driver``.

Arguments: SHAPE SCALE SIZE DELAY_MS (see muxtui.testing.hostile_markdown and the fake
server's ``shape=`` scenario). MUXTUI_HOME must hold a config whose ``fake`` provider points
at a running fake server. The app streams the reply over HTTP, then the workspace is closed
and opened again (the finished message renders from history, as after a restart).
Prints one ``RESULT {json}`` line: whether the whole reply was rendered and on screen (both
times), seconds, the CPU used in the 1 s windows after completion (idle is ~0), and RSS
before the reply (after a warm-up reply of the same shape in another workspace), after it,
and after it was rendered again from history.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time

BOUND = float(os.environ.get("MUXTUI_RENDER_BOUND", 3000))


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def until(predicate, bound: float = BOUND, poll: float = 0.02) -> bool:
    deadline = time.perf_counter() + bound
    while time.perf_counter() < deadline:
        if predicate():
            return True
        await asyncio.sleep(poll)
    return False


async def idle_cpu(windows: int = 2) -> list[float]:
    """CPU seconds used in each of the next `windows` 1 s windows (the event loop runs)."""
    used = []
    for _ in range(windows):
        c0 = time.process_time()
        await asyncio.sleep(1.0)
        used.append(time.process_time() - c0)
    return used


async def main(shape: str, scale: float, size: int, delay_ms: float) -> dict:
    from muxtui import config as config_mod
    from muxtui.paths import Paths
    from muxtui.testing import hostile_markdown
    from muxtui.ui.app import MuxApp
    from muxtui.ui.messages import AssistantMessage

    _, text, last = hostile_markdown.shape(shape, scale)
    paths = Paths.default()
    app = MuxApp(paths, config_mod.load_or_default(paths.config_file), animate=False)
    out: dict = {"shape": shape, "chars": len(text)}

    def body():
        messages = list(app.chat.query(AssistantMessage))
        return messages[-1].body if messages else None

    def shown() -> bool:
        widget = body()
        return widget is not None and widget.text == text and widget.styled

    def on_screen() -> bool:
        widget = body()
        painted = "".join(widget.painted_text().split()) if widget is not None else ""
        app.chat.scroll_end(animate=False)
        return last in painted

    async with app.run_test(size=(80, 24)) as pilot:
        await app.started.wait()
        ws_id = app.current_id
        # Warm up with the same shape (lexers, parsers, resolved styles, and Textual's and
        # rich's bounded caches fill once per process, not per reply).
        warm = await app.engine.manager.create_workspace("warm-up")
        app.tracker.add(warm)
        warm_scale = min(scale, 0.02) if shape == "ordinary" else scale
        await app.engine.manager.set_model(warm.id, f"fake:r?shape={shape}&scale={warm_scale:g}&size=4000")
        await app.engine.manager.send(warm.id, "warm up")
        await app.select_workspace(warm.id)
        await until(lambda: not app.engine.manager.is_streaming(warm.id) and body() is not None and body().styled)
        await app.select_workspace(ws_id)
        await app.engine.manager.set_model(ws_id, f"fake:r?shape={shape}&scale={scale:g}&size={size}&delay_ms={delay_ms:g}")
        await pilot.pause()
        gc.collect()
        await idle_cpu(1)
        out["rss_before"] = rss_mb()
        app.composer.set_draft("render this")
        await pilot.pause()
        t0 = time.perf_counter()
        await pilot.press("enter")
        out["rendered"] = await until(lambda: shown() and not app.engine.manager.is_streaming(ws_id))
        out["seconds"] = time.perf_counter() - t0
        out["on_screen"] = out["rendered"] and on_screen()
        out["idle_cpu"] = await idle_cpu()
        gc.collect()
        out["rss_after"] = rss_mb()
        # Open it again from history: another workspace, then back.
        other = await app.engine.manager.create_workspace("other")
        app.tracker.add(other)
        await app.select_workspace(other.id)
        await pilot.pause()
        t1 = time.perf_counter()
        await app.select_workspace(ws_id)
        out["reopened"] = await until(shown)
        out["reopen_seconds"] = time.perf_counter() - t1
        out["reopened_on_screen"] = out["reopened"] and on_screen()
        out["reopen_idle_cpu"] = await idle_cpu()
        gc.collect()
        out["rss_reopened"] = rss_mb()
    return out


if __name__ == "__main__":
    name, scale, size, delay = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    print("RESULT " + json.dumps(asyncio.run(main(name, scale, size, delay))), flush=True)
