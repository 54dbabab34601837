"""Helpers shared by the bench cases: homes, data folders, lag ticker, on-screen checks."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import resource
import time
from pathlib import Path
from collections import Counter
from typing import Any

from muxtui.engine.storage import FORMAT_VERSION, Storage, new_id
from muxtui.testing import markdown_mix

BENCH_KEY_ENV = "MUXTUI_BENCH_KEY"
SIZE = (120, 40)  # terminal size of every headless run


def model(chunks: int, seed: int = 1, delay_ms: float = 0, first_delay_ms: float = 0) -> str:
    spec = f"bench?chunks={chunks}&seed={seed}"
    if delay_ms:
        spec += f"&delay_ms={delay_ms:g}"
    if first_delay_ms:  # the server's own time to first token
        spec += f"&first_delay_ms={first_delay_ms:g}"
    return spec


def reply_text(chunks: int, seed: int = 1) -> str:
    return "".join(markdown_mix.generate(chunks, seed))


def write_home(home: Path, base_url: str, default_model: str) -> None:
    """A MUXTUI_HOME whose config points [providers.fake] at the fake server."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'''default_model = "fake:{default_model}"
theme = "textual-dark"

[providers.fake]
type = "openai"
base_url = "{base_url}"
api_key_env = "{BENCH_KEY_ENV}"
models = ["{default_model}"]
''',
        encoding="utf-8",
    )


def child_env(home: Path) -> dict[str, str]:
    """Environment for a case subprocess: every user folder points into the bench's temp dir."""
    env = dict(os.environ)
    env["HOME"] = str(home.parent)
    env["MUXTUI_HOME"] = str(home)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(home.parent / var.lower())
    env[BENCH_KEY_ENV] = "sk-bench-0123456789"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class LagTicker:
    """A 50 ms ticker in the app's event loop; `worst` is the largest delay seen, in seconds."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.worst = 0.0
        self.samples = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self.worst = 0.0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            lag = loop.time() - start - self.interval
            self.samples += 1
            if lag > self.worst:
                self.worst = lag

    async def stop(self) -> float:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        return self.worst


_MARKUP = re.compile(r"[*`#>]|^\s*(?:[-+]|\d+\.)\s", re.M)


def tail_words(text: str, count: int = 4) -> str:
    """The last few words a reader sees at the end of a Markdown text (markup stripped)."""
    for line in reversed(text.splitlines()):
        stripped = line.strip()
        if not stripped or stripped.startswith("```"):
            continue
        words = _MARKUP.sub(" ", stripped).split()
        if words:
            return " ".join(words[-count:])
    return ""


def screen_words(app) -> str:
    """Everything the terminal shows right now, whitespace-normalised."""
    from muxtui.ui.textual_private import screen_strips

    return " ".join(" ".join(strip.text for strip in screen_strips(app.screen)).split())


def at_bottom(scroll) -> bool:
    return scroll.max_scroll_y == 0 or scroll.scroll_y >= scroll.max_scroll_y


async def wait_on_screen(app, scroll, words: str, ready=lambda: True, timeout: float = 600,
                         poll: float = 0.02) -> float:
    """Poll until `ready()`, the scroll view is at the bottom and `words` are visible.

    The (costly) full-screen render is only done once the cheap conditions hold. Returns the
    perf_counter time at which everything held.
    """
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if ready() and at_bottom(scroll) and words in screen_words(app):
            return time.perf_counter()
        await asyncio.sleep(poll)
    raise TimeoutError(f"not on screen after {timeout} s: {words!r}")


def last_committed(chat_file: Path, cache: dict) -> dict | None:
    """The last record of chat.jsonl (re-read only when the file grew)."""
    try:
        size = chat_file.stat().st_size
    except FileNotFoundError:
        return None
    if cache.get("size") == size:
        return cache.get("last")
    data = chat_file.read_bytes()
    lines = [line for line in data.split(b"\n") if line.strip()]
    last = json.loads(lines[-1]) if lines else None
    cache.update(size=size, last=last)
    return last


def result(**values: Any) -> None:
    """Hand the case's figures to the parent (one JSON line on stdout)."""
    print("RESULT " + json.dumps(values), flush=True)


# ---- big data folder ------------------------------------------------------------------


def make_big_folder(data_dir: Path, workspaces: int, messages: int, big_messages: int,
                    model_name: str) -> dict[str, Any]:
    """`workspaces` workspaces of `messages` messages each, the last one with `big_messages`,
    written in the storage format (registry and meta.json through Storage; chat.jsonl lines
    exactly as WorkspaceStore.append writes them, without its per-record fsync)."""
    storage = Storage(data_dir)
    rng = random.Random(7)
    replies = [reply_text(rng.randint(30, 150), seed) for seed in range(64)]
    questions = [markdown_mix.generate(rng.randint(5, 25), 1000 + s) for s in range(64)]
    questions = ["".join(q).replace("\n", " ").strip() for q in questions]
    now = time.time() - 86400 * 30
    ids: list[str] = []
    big_last = ""
    for index in range(workspaces):
        info = storage.create_workspace(f"workspace {index + 1}", f"fake:{model_name}")
        ids.append(info.id)
        count = big_messages if index == workspaces - 1 else messages
        store = storage.store(info.id)
        with open(store.chat, "w", encoding="utf-8") as out:
            for seq in range(1, count + 1):
                user = seq % 2 == 1
                record = {
                    "id": new_id("m"),
                    "role": "user" if user else "assistant",
                    "content": questions[seq % 64] if user else replies[(seq + index) % 64],
                    "created_at": now + seq,
                    "v": FORMAT_VERSION,
                    "kind": "message",
                    "seq": seq,
                }
                if not user:
                    record.update(model=f"fake:{model_name}", status="complete",
                                  usage={"input_tokens": 100, "output_tokens": 200}, finish_reason="stop")
                out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
                if index == workspaces - 1 and seq == count:
                    big_last = record["content"]
        storage.update_workspace(info.id, last_activity=now + index)
    return {"ids": ids, "big_id": ids[-1], "big_last": big_last}


class StallWatch:
    """Debug aid (MUXTUI_BENCH_STALLS=ms): when the event loop is blocked longer than the
    threshold, sample the loop thread's stack from a watchdog thread and print it at the end."""

    def __init__(self, threshold_ms: float) -> None:
        import threading

        self.threshold = threshold_ms / 1000
        self.stalls: list[tuple[float, list[str]]] = []
        self._beat = time.perf_counter()
        self._thread_id = threading.get_ident()
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        import gc

        loop = asyncio.get_running_loop()
        self.gc_pauses: list[tuple[int, float]] = []
        gc_start = [0.0]

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                gc_start[0] = time.perf_counter()
            else:
                self.gc_pauses.append((info["generation"], time.perf_counter() - gc_start[0]))

        gc.callbacks.append(on_gc)

        def beat() -> None:
            self._beat = time.perf_counter()
            if not self._stop.is_set():
                loop.call_later(0.005, beat)

        beat()
        self._watch.start()

    def _run(self) -> None:
        import sys
        import traceback

        current: tuple[float, list] | None = None
        while not self._stop.wait(0.005):
            beat = self._beat
            blocked = time.perf_counter() - beat
            if blocked > self.threshold:
                frame = sys._current_frames().get(self._thread_id)
                if frame is None:
                    continue
                stack = [f"{Path(fs.filename).name}:{fs.lineno} {fs.name}"
                         for fs in traceback.extract_stack(frame, limit=60)]
                if current is None or current[0] != beat:
                    current = (beat, [])
                    self.stalls.append((blocked, current[1]))
                current[1].append(stack)
                self.stalls[-1] = (blocked, current[1])

    def report(self) -> None:
        import sys

        self._stop.set()
        long = [(g, round(d * 1000)) for g, d in self.gc_pauses if d > 0.02]
        print(f"--- gc: {len(self.gc_pauses)} collections, {sum(d for _, d in self.gc_pauses) * 1000:.0f} ms; "
              f"over 20 ms (generation, ms): {long}", file=sys.stderr)
        for blocked, samples in self.stalls:
            print(f"--- loop blocked {blocked * 1000:.0f} ms; {len(samples)} samples, innermost frames:",
                  file=sys.stderr)
            seen: Counter = Counter()
            for stack in samples:
                seen[" < ".join(reversed(stack[-7:]))] += 1
            for line, n in seen.most_common(6):
                print(f"   {n:3d}x {line}", file=sys.stderr)
            # the outermost frame that differs between samples: which callback was running
            print("       in:", " > ".join(samples[0][-22:-12]), file=sys.stderr)
