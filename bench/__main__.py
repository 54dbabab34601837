"""``make bench``: muxtui against baselines measured in the same run; prints one table.

    python -m bench            # everything; baseline (c) at 20,000 chunks alone takes minutes
    python -m bench --quick    # 5,000-chunk replies only, shorter many-workspace window
    python -m bench --only long,many,folder,disk,search

Sections (see the performance issue for the why):
  1. long reply: the real app (headless, one workspace) vs (a) a raw httpx consumer, (b) one
     static render of the finished text into a Textual Markdown, (c) a bare get_stream app
  2. growth: app time(20,000 chunks) / time(5,000)
  3. many workspaces: 8 streaming at 100 chunks/s while keys are typed, vs the same app idle
  4. big data folder: 200 workspaces x 1,000 messages (+ one of 5,000) vs an empty folder
  5. disk: partial.json writes per second per streaming workspace, vs one per delta
  6. search: 1,000 workspaces x 200 messages: index build in the app's background, query latency
  7. hostile shapes (one huge fence, 5,000-row table, deep nesting, wide text, 5 MB of
     Markdown) streamed and opened finished, also with the step target forced down (a slow
     machine), vs markdown-it parsing the same text once (the floor)
  8. paced: one reply at a human pace (2,000 chunks at 10 ms): app CPU vs a raw httpx consumer's
     CPU on the same stream
  9. soak: 300 replies of 300 chunks in one workspace: RSS and gc objects at replies
     1/50/100/200/300, reply time at 300 vs 10
 10. wide: 1,000 workspaces x 50 messages: first frame vs the empty folder
 11. ttft: Enter -> first reply words on a real pty, split (httpx sends, the server gets it,
     response headers, first delta in the engine, first paint), cold (first reply after start-up)
     and warm, with a server that answers at once and one that takes 300 ms (a typical API), vs a
     raw httpx consumer's POST -> first delta with its client ready (bench.trace_app stamps the
     app's milestones; MUXTUI_BENCH_PROFILE=PREFIX also profiles each Enter -> paint window)
 12. pty: terminal bytes per reply byte on a real 120x40 pty; the same reply through a pty drained
     at 32 KB/s (a 256 kbit/s SSH link) with keys typed meanwhile: does it keep up, key echo lag
 13. idle: CPU and bytes/s written to the pty with nothing streaming, vs a bare Textual app
 14. host: the engine host vs embedded on the same 5,000/20,000-chunk replies (wall, CPU of all
     processes), reattach with 8 streams (snapshot time), a CLI round trip (bench/host.py)
--quick runs 8-13 smaller (500 paced chunks; 60 soak replies; 1,000 x 10 messages; 300-chunk pty
reply; 5 s idle windows).
Every case runs in its own subprocess (CPU and peak RSS are per case); the fake provider
server runs in this process. All files live in a temp dir, removed at the end (--keep keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import child_env, make_big_folder, model, write_home

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("long", "many", "folder", "disk", "search", "shapes", "paced", "soak", "wide", "ttft", "pty", "idle",
            "host")
# (shape, scale) of section 7; --quick scales the big ones down
SHAPE_ROWS = [("code_4k", 1), ("code_8k", 1), ("unclosed_fence", 1), ("table", 1), ("deep_list", 1),
              ("deep_quote", 1), ("wide_paragraph", 1), ("ordinary", 0.2), ("ordinary", 1)]
SLOW_ROWS = [("code_4k", 1), ("unclosed_fence", 1), ("table", 1), ("ordinary", 0.2)]


class Runner:
    def __init__(self, tmp: Path, base_url: str, verbose: bool) -> None:
        self.tmp = tmp
        self.base_url = base_url
        self.verbose = verbose
        self.count = 0

    def run(self, case: str, *extra: str, home: Path | None = None, timeout: float = 1800) -> dict[str, Any]:
        """Run one case in a fresh subprocess (a fresh MUXTUI_HOME unless `home` is given)."""
        self.count += 1
        if home is None:
            home = self.tmp / f"{self.count:02d}-{case}" / "muxhome"
            write_home(home, self.base_url, model(20))
        command = [sys.executable, "-m", "bench.cases", case, "--base-url", self.base_url, *extra]
        label = " ".join([case, *extra])
        print(f"  running {label} ...", end="", flush=True, file=sys.stderr)
        started = time.perf_counter()
        try:
            proc = subprocess.run(command, cwd=ROOT, env=child_env(home), capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            print(" timed out", file=sys.stderr)
            return {"error": f"timed out after {timeout:g} s"}
        took = time.perf_counter() - started
        for line in reversed(proc.stdout.splitlines()):
            if line.startswith("RESULT "):
                print(f" {took:.1f} s", file=sys.stderr)
                return json.loads(line[7:])
        print(" failed", file=sys.stderr)
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        if self.verbose:
            print("\n".join(tail), file=sys.stderr)
        return {"error": tail[-1] if tail else f"exit code {proc.returncode}"}


# ---- the table ------------------------------------------------------------------------------


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str, str]] = []
        self.verdicts: list[bool] = []

    def section(self, title: str) -> None:
        self.rows.append(("", title, "", "", "", ""))

    def row(self, key: str, figure: str, value: str, ratios: str = "", target: str = "",
            ok: bool | None = None) -> None:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        if ok is not None:
            self.verdicts.append(ok)
        self.rows.append((key, figure, value, ratios, target, verdict))

    def print(self) -> None:
        header = ("#", "figure", "value", "vs baselines (same run)", "target", "result")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(6)]
        line = "  ".join("-" * w for w in widths)
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        print(line)
        for r in self.rows:
            if not r[0] and not r[2]:
                print(r[1])
                continue
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        print(line)
        passed = sum(self.verdicts)
        print(f"{passed}/{len(self.verdicts)} targets pass")


def secs(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.2f} s" if v < 100 else f"{v:.0f} s")


def ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} ms"


def mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} MB"


def ratio(a: float | None, b: float | None, name: str) -> str:
    if a is None or b is None or not b:
        return ""
    return f"{a / b:.2f}x {name}"


def join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def get(r: dict, key: str) -> Any:
    return None if "error" in r else r.get(key)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5,000-chunk replies only; 10 s many-workspace window")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--seconds", type=float, default=None, help="many-workspace window (default 30, quick 10)")
    parser.add_argument("--json", default="", help="also write every raw figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("-v", "--verbose", action="store_true", help="show a failing case's stderr")
    parser.add_argument("--gc", default="app", choices=["app", "off", "freeze", "threshold", "freeze+threshold"],
                        help="garbage-collector tuning: 'app' (default) measures the app as `muxtui` runs it "
                             "(gc.freeze() and gc.set_threshold(10_000, 20, 20) after start-up); 'off' "
                             "without it; the others are experiments")
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    seconds = args.seconds or (10.0 if args.quick else 30.0)

    from muxtui.testing.fakeserver import FakeServer

    os.environ["MUXTUI_BENCH_GC"] = args.gc  # inherited by the case subprocesses
    tmp = Path(tempfile.mkdtemp(prefix="muxtui-bench-"))
    server = FakeServer().start()
    runner = Runner(tmp, server.openai_base_url, args.verbose)
    raw: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        sizes = [5000] if args.quick else [5000, 20000]
        if only & {"long", "disk"}:
            for n in sizes:
                raw[f"a{n}"] = runner.run("raw_httpx", "--chunks", str(n))
                raw[f"b{n}"] = runner.run("static_markdown", "--chunks", str(n))
                if not (args.quick and n > 5000):
                    raw[f"c{n}"] = runner.run("get_stream_markdown", "--chunks", str(n))
                raw[f"app{n}"] = runner.run("app_long", "--chunks", str(n))
        if "many" in only or "disk" in only:
            raw["idle"] = runner.run("app_many", "--workspaces", "0", "--seconds", str(min(seconds, 10.0)))
            raw["many"] = runner.run("app_many", "--workspaces", "8", "--delay-ms", "10",
                                     "--seconds", str(seconds))
        if "folder" in only:
            raw["empty"] = runner.run("app_folder")
            home = tmp / "big" / "muxhome"
            write_home(home, server.openai_base_url, model(20))
            print("  writing 200 workspaces x 1,000 messages ...", end="", flush=True, file=sys.stderr)
            t = time.perf_counter()
            info = make_big_folder(home / "data", 200, 1000, 5000, model(20))
            print(f" {time.perf_counter() - t:.1f} s", file=sys.stderr)
            info_file = tmp / "big" / "info.json"
            info_file.write_text(json.dumps({"big_id": info["big_id"], "big_last": info["big_last"]}))
            raw["big"] = runner.run("app_folder", "--folder-info", str(info_file), home=home)
        if "search" in only:
            from bench.search_data import make_search_folder

            home = tmp / "search" / "muxhome"
            write_home(home, server.openai_base_url, model(20))
            print("  writing 1,000 workspaces x 200 messages ...", end="", flush=True, file=sys.stderr)
            t = time.perf_counter()
            make_search_folder(home / "data", 1000, 200)
            raw["search_gen"] = {"seconds": time.perf_counter() - t}
            print(f" {raw['search_gen']['seconds']:.1f} s", file=sys.stderr)
            raw["search"] = runner.run("search_big", home=home)
        if "shapes" in only:
            shrink = 0.1 if args.quick else 1.0
            for shape, scale in SHAPE_ROWS:
                for mode in ("streamed", "finished"):
                    raw[f"shape:{shape}:{scale}:{mode}"] = runner.run(
                        "shape_render", "--shape", shape, "--scale", str(scale * shrink), "--mode", mode)
            for shape, scale in SLOW_ROWS:
                for mode in ("streamed", "finished"):
                    raw[f"slow:{shape}:{scale}:{mode}"] = runner.run(
                        "shape_render", "--shape", shape, "--scale", str(scale * shrink), "--mode", mode,
                        "--step-target", "1e-9")
        run_day_sections(runner, raw, only, args.quick, tmp, server.openai_base_url)
    finally:
        server.stop()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    table = build_table(raw, sizes, only, args.quick, seconds)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import textual

    print()
    print(f"muxtui bench · {time.strftime('%Y-%m-%d %H:%M')} · Python {platform.python_version()} · "
          f"Textual {textual.__version__} · {os.cpu_count()} cores · load {load:.1f} · "
          f"{'quick' if args.quick else 'full'} run in {time.perf_counter() - started:.0f} s"
          + (f" · EXPERIMENT --gc {args.gc}" if args.gc != "app" else ""))
    table.print()
    if "host" in only:  # the engine host against embedded, same run (its own table: bench/host.py)
        print("\nengine host vs embedded (best of 5, alternating; ratio = host / embedded; targets: <= 1.2x, "
              "reattach <= 0.3 s, CLI round trip <= 0.15 s)")
        subprocess.run([sys.executable, "-m", "bench.host", *(["--quick"] if args.quick else [])], check=False)
    errors = {k: v["error"] for k, v in raw.items() if isinstance(v, dict) and "error" in v}
    for key, error in errors.items():
        print(f"error in {key}: {error}")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2))
    return 0 if all(table.verdicts) and not errors else 1


def build_table(raw: dict[str, Any], sizes: list[int], only: set[str], quick: bool, seconds: float) -> Table:
    t = Table()
    if "long" in only:
        t.section("1. long reply: Enter -> whole reply on screen (scrolled to the bottom) and in chat.jsonl")
        for n in sizes:
            a, b, c, app = (raw.get(f"{k}{n}", {"error": "not run"}) for k in ("a", "b", "c", "app"))
            at, bt, ct, pt = (get(x, "seconds") for x in (a, b, c, app))
            tag = f"{n // 1000}k"
            t.row(f"1{tag}", f"(a) raw httpx consumer, {n:,} chunks", secs(at), "", "baseline")
            t.row("", f"(b) static Markdown render of the text", secs(bt), ratio(bt, at, "(a)"), "baseline")
            if c.get("error") == "not run":
                t.row("", "(c) bare Markdown.get_stream app", "skipped (--quick)", "", "baseline")
            else:
                t.row("", "(c) bare Markdown.get_stream app", secs(ct),
                      join(ratio(ct, at, "(a)"), ratio(ct, bt, "(b)")), "baseline")
            ok = get(app, "ok")
            t.row("", "muxtui app: time", secs(pt),
                  join(ratio(pt, at, "(a)"), ratio(pt, bt, "(b)"), ratio(pt, ct, "(c)")),
                  "<= (b)", None if pt is None or bt is None else (pt <= bt and bool(ok)))
            if ct is not None and pt is not None and n >= 20000:
                t.row("", "muxtui app: speed-up over (c)", f"{ct / pt:.1f}x", "", ">= 10x", ct / pt >= 10)
            t.row("", "muxtui app: CPU", secs(get(app, "cpu")),
                  join(ratio(get(app, "cpu"), get(a, "cpu"), "(a)"), ratio(get(app, "cpu"), get(b, "cpu"), "(b)"),
                       ratio(get(app, "cpu"), get(c, "cpu"), "(c)")))
            t.row("", "muxtui app: peak RSS", mb(get(app, "rss")),
                  join(ratio(get(app, "rss"), get(a, "rss"), "(a)"), ratio(get(app, "rss"), get(b, "rss"), "(b)"),
                       ratio(get(app, "rss"), get(c, "rss"), "(c)")))
            lag = get(app, "lag_ms")
            t.row("", "muxtui app: worst event-loop lag", ms(lag),
                  join(ratio(lag, get(b, "lag_ms"), "(b)"), ratio(lag, get(c, "lag_ms"), "(c)")),
                  "<= 100 ms", None if lag is None else lag <= 100)
            t.row("", "muxtui app: text complete and in order", "yes" if ok else "NO", "",
                  "screen == disk == sent", None if ok is None else bool(ok))
    if "long" in only:
        t.section("2. growth")
        if len(sizes) > 1:
            p5, p20 = get(raw.get("app5000", {}), "seconds"), get(raw.get("app20000", {}), "seconds")
            b5, b20 = get(raw.get("b5000", {}), "seconds"), get(raw.get("b20000", {}), "seconds")
            c5, c20 = get(raw.get("c5000", {}), "seconds"), get(raw.get("c20000", {}), "seconds")
            g = p20 / p5 if p5 and p20 else None
            t.row("2", "muxtui time(20k) / time(5k)", "n/a" if g is None else f"{g:.2f}",
                  join(f"(b) {b20 / b5:.2f}" if b5 and b20 else "", f"(c) {c20 / c5:.2f}" if c5 and c20 else "",
                       "linear 4.00"),
                  "<= 4.5", None if g is None else g <= 4.5)
        else:
            t.row("2", "muxtui time(20k) / time(5k)", "n/a (--quick)", "", "<= 4.5")
    if "many" in only:
        m, idle = raw.get("many", {"error": "not run"}), raw.get("idle", {"error": "not run"})
        t.section(f"3. 8 workspaces streaming at 100 chunks/s each for {seconds:g} s, keys typed every 0.2 s")
        cpu = get(m, "cpu_pct")
        t.row("3", "app CPU (% of one core)", "n/a" if cpu is None else f"{cpu:.1f} %",
              ratio(cpu, get(idle, "cpu_pct"), "idle app typing"), "<= 25 %", None if cpu is None else cpu <= 25)
        lag = get(m, "lag_ms")
        t.row("", "worst event-loop lag", ms(lag), ratio(lag, get(idle, "lag_ms"), "idle"), "<= 50 ms",
              None if lag is None else lag <= 50)
        p50, p99 = get(m, "key_p50_ms"), get(m, "key_p99_ms")
        t.row("", "key -> composer on screen, p50", ms(p50), ratio(p50, get(idle, "key_p50_ms"), "idle"))
        t.row("", "key -> composer on screen, p99", ms(p99), ratio(p99, get(idle, "key_p99_ms"), "idle"),
              "<= 50 ms", None if p99 is None else p99 <= 50)
        ok = get(m, "ok")
        t.row("", "all 8 still streaming at the end", "yes" if ok else "NO", "", "8/8", None if ok is None else bool(ok))
    if "folder" in only:
        big, empty = raw.get("big", {"error": "not run"}), raw.get("empty", {"error": "not run"})
        t.section("4. big data folder: 200 workspaces x 1,000 messages (+ one of 5,000)")
        ff, fe = get(big, "first_frame"), get(empty, "first_frame")
        t.row("4", "time to first frame", secs(ff), ratio(ff, fe, "empty folder"), "<= 0.5 s",
              None if ff is None else ff <= 0.5)
        t.row("", "  vs empty folder", "n/a" if not (ff and fe) else f"{ff / fe:.2f}x", f"empty: {secs(fe)}",
              "<= 2x", None if not (ff and fe) else ff / fe <= 2)
        ob = get(big, "open_big")
        t.row("", "open the 5,000-message workspace, see its last message", secs(ob), ratio(ob, fe, "empty first frame"))
        t.row("", "  worst event-loop lag meanwhile", ms(get(big, "lag_ms")))
        t.row("", "  sidebar badges seeded (seed-badges worker done)", secs(get(big, "seed_badges")))
        rss, re_ = get(big, "rss"), get(empty, "rss")
        t.row("", "peak RSS", mb(rss), ratio(rss, re_, "empty folder"), "<= 200 MB", None if rss is None else rss <= 200)
    if "search" in only:
        sr = raw.get("search", {"error": "not run"})
        t.section("6. search: 1,000 workspaces x 200 messages (200,000), SQLite FTS5 index")
        t.row("6", "index build, in the app's background (niced child process)", secs(get(sr, "build_s")),
              join(f"{get(sr, 'messages') or 0:,} messages", f"{get(sr, 'index_mb') or 0:.0f} MB",
                   f"data written in {secs(get(raw.get('search_gen', {}), 'seconds'))}"))
        lag, idle_lag = get(sr, "lag_ms"), get(sr, "idle_lag_ms")
        kp, idle_kp = get(sr, "key_p99_ms"), get(sr, "idle_key_p99_ms")
        t.row("", "  key -> frame while it builds, p99", ms(kp),
              f"{get(sr, 'keys') or 0} keys · index idle: {ms(idle_kp)}, {get(sr, 'idle_keys') or 0} keys",
              "<= 2x idle", None if kp is None or idle_kp is None else kp <= max(2 * idle_kp, 100))
        # Worst single sample: over the whole build vs a shorter idle window, so only shown.
        t.row("", "  worst event-loop lag while it builds", ms(lag), f"index idle: {ms(idle_lag)}")
        qmax = get(sr, "query_max_ms")
        t.row("", "query latency, slowest of 13 queries (best of 3)", ms(qmax), f"slowest: {get(sr, 'slowest')}",
              "<= 100 ms", None if qmax is None else qmax <= 100)
        t.row("", "query latency, median", ms(get(sr, "query_p50_ms")))
        t.row("", "the one planted message is found", "yes" if get(sr, "ok") else "NO", "", "1 hit",
              None if get(sr, "ok") is None else bool(get(sr, "ok")))
    if "disk" in only:
        t.section("5. disk: partial.json writes per second per streaming workspace (200 ms throttle)")
        for n in sizes:
            app = raw.get(f"app{n}", {})
            writes, seconds = get(app, "partial_writes"), get(app, "stream_seconds")
            # The write at completion is part of the durability contract, not of the throttle.
            w = (writes - 1) / seconds if writes and seconds else None
            deltas = n / seconds if seconds else None
            t.row("5" if n == sizes[0] else "", f"full speed, {n:,}-chunk reply (throttled writes/s)",
                  "n/a" if w is None else f"{w:.1f}/s",
                  join(f"{writes} writes in {secs(seconds)}" if writes else "",
                       f"1 per {deltas / w:,.0f} deltas" if w and deltas else ""),
                  "<= 5/s", None if w is None else w <= 5)
        m = raw.get("many", {})
        w = get(m, "writes_per_s")
        if w is not None:
            t.row("", "100 chunks/s, 8 workspaces (busiest one)", f"{w:.1f}/s",
                  f"1 per {100.0 / w:,.0f} deltas" if w else "", "<= 5/s", w <= 5)
    if "shapes" in only:
        t.section("7. hostile shapes: until the whole reply is rendered (big blocks plain first, then styled)")
        for prefix, title, rows in (("shape", "", SHAPE_ROWS), ("slow", " [step target 1e-9 s]", SLOW_ROWS)):
            for shape, scale in rows:
                for mode in ("streamed", "finished"):
                    r = raw.get(f"{prefix}:{shape}:{scale}:{mode}", {"error": "not run"})
                    seconds, chars, floor = get(r, "seconds"), get(r, "chars"), get(r, "parse_floor")
                    size = "n/a" if chars is None else (f"{chars / 1e6:.1f} MB" if chars >= 1e6 else f"{chars / 1e3:.0f} KB")
                    ok = get(r, "ok")
                    t.row("6" if (prefix, shape, mode) == ("shape", "code_4k", "streamed") else "",
                          f"{shape} ({size}), {mode}{title}", secs(seconds),
                          join(ratio(seconds, floor, "markdown-it parse"), f"lag {ms(get(r, 'lag_ms'))}",
                               f"CPU {secs(get(r, 'cpu'))}", f"RSS {mb(get(r, 'rss'))}"),
                          "completes", None if ok is None else bool(ok))
        small = get(raw.get("shape:ordinary:0.2:streamed", {}), "seconds")
        large = get(raw.get("shape:ordinary:1:streamed", {}), "seconds")
        g = large / small if small and large else None
        t.row("", "ordinary Markdown: time(5 MB) / time(1 MB), streamed", "n/a" if g is None else f"{g:.2f}",
              "linear 5.00", "<= 6", None if g is None else g <= 6)
    build_day_table(t, raw, only, args_quick=quick)
    return t


# ---- 8-13: a stream costs what its bytes cost (CPU, first token, memory, bytes, idle) -------------

PACED = {False: 2000, True: 500}  # chunks at 10 ms
SOAK = {False: ("300", "1,50,100,200,300"), True: ("60", "1,10,20,40,60")}  # replies of 300 chunks
WIDE = {False: 50, True: 10}  # messages in each of 1,000 workspaces
PTY_CHUNKS = {False: 1000, True: 300}  # chunks at 10 ms
IDLE_SECONDS = {False: 10.0, True: 5.0}
# The server's own time to first token: none (the app's own delay alone), and a typical API's.
TTFT_SERVER_MS = (0, 300)


def run_day_sections(runner: Runner, raw: dict[str, Any], only: set[str], quick: bool, tmp: Path,
                     base_url: str) -> None:
    if "paced" in only:
        n = str(PACED[quick])
        raw["paced_raw"] = runner.run("raw_httpx", "--chunks", n, "--pace-ms", "10")
        raw["paced_app"] = runner.run("app_long", "--chunks", n, "--pace-ms", "10")
    if "soak" in only:
        _replies, checkpoints = SOAK[quick]
        raw["soak"] = runner.run("app_soak", "--chunks", "300", "--checkpoints", checkpoints, "--early", "10")
    if "wide" in only:
        raw["wide_empty"] = runner.run("app_folder")
        home = tmp / "wide" / "muxhome"
        write_home(home, base_url, model(20))
        print(f"  writing 1,000 workspaces x {WIDE[quick]} messages ...", end="", flush=True, file=sys.stderr)
        t = time.perf_counter()
        make_big_folder(home / "data", 1000, WIDE[quick], WIDE[quick], model(20))
        print(f" {time.perf_counter() - t:.1f} s", file=sys.stderr)
        raw["wide"] = runner.run("app_folder", home=home)
    if "ttft" in only:
        replies = "3" if quick else "5"
        for server_ms in TTFT_SERVER_MS:
            common = ("--chunks", "60", "--pace-ms", "10", "--replies", replies, "--first-delay-ms", str(server_ms))
            raw[f"ttft_raw{server_ms}"] = runner.run("raw_ttft", *common)
            raw[f"ttft_app{server_ms}"] = runner.run("pty_ttft", *common)
    if "pty" in only:
        n = str(PTY_CHUNKS[quick])
        raw["pty_fast"] = runner.run("pty_stream", "--chunks", n, "--pace-ms", "10")
        raw["pty_fast_keys"] = runner.run("pty_stream", "--chunks", n, "--pace-ms", "10", "--keys")
        raw["pty_slow_keys"] = runner.run("pty_stream", "--chunks", n, "--pace-ms", "10", "--keys",
                                          "--drain", str(32 * 1024))
    if "idle" in only:
        seconds = str(IDLE_SECONDS[quick])
        raw["idle_bare"] = runner.run("pty_idle", "--bare", "--seconds", seconds, "--think", "2")
        raw["idle_app"] = runner.run("pty_idle", "--seconds", seconds, "--think", "2")
        raw["idle_app_steady"] = runner.run("pty_idle", "--seconds", seconds, "--think", "2", "--no-blink")


def pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} %"


def build_day_table(t: Table, raw: dict[str, Any], only: set[str], args_quick: bool) -> None:
    quick = args_quick
    missing = {"error": "not run"}
    if "paced" in only:
        a, app = raw.get("paced_raw", missing), raw.get("paced_app", missing)
        n = PACED[quick]
        t.section(f"8. paced: one reply of {n:,} chunks at 10 ms (a human reading pace), Enter -> on screen and on disk")
        ac, pc = get(a, "cpu"), get(app, "cpu")
        aw, pw = get(a, "seconds"), get(app, "seconds")
        t.row("8", "(a) raw httpx consumer: CPU", secs(ac), f"{100 * ac / aw:.1f} % of a core over {secs(aw)}"
              if ac and aw else "", "baseline")
        t.row("", "muxtui app: CPU", secs(pc),
              join(ratio(pc, ac, "(a)"), f"{100 * pc / pw:.1f} % of a core over {secs(pw)}" if pc and pw else ""),
              "<= 1.5x (a)", None if pc is None or ac is None else pc <= 1.5 * ac)
        ok = get(app, "ok")
        t.row("", "muxtui app: text complete and in order", "yes" if ok else "NO", "", "screen == disk == sent",
              None if ok is None else bool(ok))
    if "soak" in only:
        s = raw.get("soak", missing)
        replies, checkpoints = SOAK[quick]
        cps = [int(x) for x in checkpoints.split(",")]
        t.section(f"9. soak: {replies} replies of 300 chunks in one workspace (RSS now and live gc objects after a "
                  "full collection, at checkpoints)")
        points = {p["reply"]: p for p in (get(s, "points") or [])}
        first = points.get(cps[0])
        for index, n in enumerate(cps):
            p = points.get(n)
            if p is None:
                t.row("9" if index == 0 else "", f"after reply {n}", "n/a")
                continue
            t.row("9" if index == 0 else "", f"after reply {n}: RSS", mb(p["rss"]),
                  join(f"{p['objects']:,} gc objects", ratio(p["objects"], first and first["objects"], f"reply {cps[0]}"),
                       f"{p['widgets']} widgets in the DOM, {p.get('alive', 0)} alive"),
                  "<= 100 MB" if n == cps[-1] else "", (p["rss"] <= 100) if n == cps[-1] else None)
        base, end = points.get(cps[1]), points.get(cps[-1])
        growth = end["rss"] - base["rss"] if base and end else None
        t.row("", f"RSS growth, reply {cps[1]} -> {cps[-1]}", "n/a" if growth is None else f"{growth:+.1f} MB",
              f"{(growth or 0) / (cps[-1] - cps[1]) * 1000:.0f} KB per reply" if growth is not None else "",
              "<= 5 MB", None if growth is None else growth <= 5)
        early, late = get(s, "early_median"), get(s, "late_median")
        t.row("", f"reply time, last 10 replies (median)", secs(late),
              join(ratio(late, early, "replies 5-14"), f"replies 5-14: {secs(early)}",
                   f"worst of the last 10: {secs(get(s, 'late_max'))}", f"worst: {secs(get(s, 'worst'))}"),
              "<= 1.1x", None if late is None or early is None else late <= 1.1 * early)
        growth = get(s, "growth") or []
        per = cps[-1] - cps[1]
        t.row("", f"  live objects that grew most, reply {cps[1]} -> {cps[-1]}",
              ", ".join(f"{name} +{n:,}" for name, n in growth[:6]) or "n/a",
              ", ".join(f"{name} {n / per:+.1f}/reply" for name, n in growth[:3] if per > 0))
        wgrowth = get(s, "widget_growth") or []
        t.row("", f"  widgets alive (in the DOM or not) that grew most, reply {cps[1]} -> {cps[-1]}",
              ", ".join(f"{name} +{n:,}" for name, n in wgrowth[:4]) or "none",
              ", ".join(f"{name} {n / per:+.1f}/reply" for name, n in wgrowth[:2] if per > 0))
        ok = get(s, "ok")
        t.row("", "every reply complete on disk", "yes" if ok else "NO", "", "all", None if ok is None else bool(ok))
    if "wide" in only:
        w, e = raw.get("wide", missing), raw.get("wide_empty", missing)
        ff, fe = get(w, "first_frame"), get(e, "first_frame")
        t.section(f"10. wide: 1,000 workspaces x {WIDE[quick]} messages")
        t.row("10", "time to first frame", secs(ff), join(ratio(ff, fe, "empty folder"), f"empty: {secs(fe)}"),
              "<= 0.5 s", None if ff is None else ff <= 0.5)
        t.row("", "peak RSS", mb(get(w, "rss")), ratio(get(w, "rss"), get(e, "rss"), "empty folder"))
    if "ttft" in only:
        t.section("11. TTFT on a real 120x40 pty: Enter -> first reply word on screen (each milestone: time after Enter)")
        for server_ms in TTFT_SERVER_MS:
            r, a = raw.get(f"ttft_raw{server_ms}", missing), raw.get(f"ttft_app{server_ms}", missing)
            floor = get(r, "first_delta")
            where = f"server answers in {server_ms} ms" if server_ms else "server answers at once"
            t.row("11" if server_ms == TTFT_SERVER_MS[0] else "",
                  f"{where}: (a) raw httpx POST -> first delta, client ready",
                  ms(None if floor is None else floor * 1000), "", "baseline")
            for label, sample in (("  cold: first reply, ~1.5 s after the first frame", get(a, "cold")),
                                  ("  warm: later replies (median)", get(a, "warm"))):
                if not sample:
                    t.row("", label, "n/a")
                    continue
                paint = sample["paint"]
                t.row("", f"{label}: first paint", ms(paint * 1000),
                      f"(a) + {(paint - floor) * 1000:.0f} ms" if floor is not None else "",
                      "<= (a) + 50 ms", None if floor is None else paint <= floor + 0.05)
                t.row("", "    httpx sends / server gets it / headers back / first delta in engine",
                      " / ".join(ms(sample[k] * 1000) for k in ("request", "arrived", "response", "delta")),
                      join(f"user message mounted {ms(sample['user_mounted'] * 1000)}",
                           f"reply widget mounted {ms(sample['live_mounted'] * 1000)}",
                           f"delta -> paint {ms((paint - sample['delta']) * 1000)}",
                           f"gc {ms(sample.get('gc_ms', 0) * 1000)}"))
    if "pty" in only:
        fast, keys, slow = (raw.get(k, missing) for k in ("pty_fast", "pty_fast_keys", "pty_slow_keys"))
        t.section(f"12. terminal bytes on a real 120x40 pty: one reply of {PTY_CHUNKS[quick]:,} chunks at 10 ms")
        per = get(fast, "per_reply_byte")
        t.row("12", "bytes written per byte of reply", "n/a" if per is None else f"{per:.1f}",
              join(f"{get(fast, 'bytes') or 0:,} B for {get(fast, 'reply_bytes') or 0:,} B of reply",
                   f"{(get(fast, 'bytes_per_s') or 0) / 1024:.0f} KiB/s", f"app CPU {secs(get(fast, 'cpu'))}"),
              "<= 30", None if per is None else per <= 30)
        made = get(fast, "made_of") or {}
        if made:
            total = max(1, sum(made.values()))
            t.row("", "  made of", " · ".join(f"{k} {100 * v / total:.0f}%" for k, v in made.items() if v), "")
        t.row("", "key echo, fast pty, while streaming: p50 / max",
              f"{ms(get(keys, 'echo_p50_ms'))} / {ms(get(keys, 'echo_max_ms'))}", f"{get(keys, 'keys') or 0} keys",
              "baseline")
        t.row("", "pty drained at 32 KB/s: reply end on screen after the stream ended", secs(get(slow, "tail_after_close_s")),
              join(f"fast pty: {secs(get(keys, 'tail_after_close_s'))}",
                   f"stream {secs(get(slow, 'stream_s'))} (fast: {secs(get(keys, 'stream_s'))})",
                   f"{(get(slow, 'bytes_per_s') or 0) / 1024:.0f} KiB/s read"),
              "keeps up (<= 1 s)", None if get(slow, "tail_after_close_s") is None else get(slow, "tail_after_close_s") <= 1)
        p50, mx = get(slow, "echo_p50_ms"), get(slow, "echo_max_ms")
        t.row("", "  key echo on it, while streaming: p50 / max", f"{ms(p50)} / {ms(mx)}",
              join(ratio(p50, get(keys, "echo_p50_ms"), "fast p50"), f"{get(slow, 'keys') or 0} keys"),
              "max <= 100 ms", None if mx is None else mx <= 100)
    if "idle" in only:
        app, bare = raw.get("idle_app", missing), raw.get("idle_bare", missing)
        t.section(f"13. idle: nothing streaming, {IDLE_SECONDS[quick]:g} s on a real 120x40 pty, after start-up settled")
        cpu, bcpu = get(app, "cpu_pct"), get(bare, "cpu_pct")
        t.row("13", "app CPU (% of one core)", pct(cpu), f"bare Textual app with an Input: {pct(bcpu)}", "<= 1 %",
              None if cpu is None else cpu <= 1)
        bps, bbps = get(app, "bytes_per_s"), get(bare, "bytes_per_s")
        t.row("", "bytes written to the terminal per second", "n/a" if bps is None else f"{bps:.0f} B/s",
              "" if bbps is None else f"bare Textual app with an Input: {bbps:.0f} B/s", "<= 100 B/s",
              None if bps is None else bps <= 100)
        steady = raw.get("idle_app_steady", missing)
        sbps = get(steady, "bytes_per_s")
        t.row("", "  the same, [ui] cursor_blink = false", "n/a" if sbps is None else f"{sbps:.0f} B/s",
              f"CPU {pct(get(steady, 'cpu_pct'))}", "<= 100 B/s", None if sbps is None else sbps <= 100)


if __name__ == "__main__":
    sys.exit(main())
