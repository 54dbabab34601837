"""The engine host's numbers (issue 12), measured against the in-process engine in the same run.

    python -m bench.host            # 5,000 and 20,000 chunks, reattach with 8 streams, CLI round trip
    python -m bench.host --quick    # 5,000 chunks only

1. one long reply: wall and CPU (client + engine process) through the socket vs the engine in this
   process, from `send` to the close event with every delta applied
2. reattach: 8 workspaces streaming; a new client connects, says hello and subscribes: time until
   its snapshot (every live reply's text so far) is in hand
3. a CLI round trip against a running engine: `muxtui engine status` and `muxtui workspaces` wall
   time, with muxtui's bytecode cached as an installed copy has it

Not a UI measurement: the app's frame cost is the same whichever transport feeds it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import child_env, model, write_home
from muxtui import config as config_mod
from muxtui.host.api import Engine
from muxtui.host.remote import RemoteEngine
from muxtui.paths import Paths
from muxtui.testing.fakeserver import FakeServer


REPEAT = 5  # best of 5: on a shared machine the noise of 3 runs swamped a 20% ratio


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Closed:
    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.chars = 0

    def __call__(self, event) -> None:
        d = event.to_dict() if hasattr(event, "to_dict") else {}
        if d.get("type") == "stream.delta":
            self.chars += len(d.get("text", ""))
        elif d.get("type") in ("stream.complete", "stream.error", "stream.interrupted"):
            self.done.set()


async def embedded(paths: Paths, chunks: int) -> tuple[float, float]:
    engine = Engine(paths, config_mod.load(paths.config_file))
    await engine.start()
    closed = Closed()
    engine.subscribe(closed)
    ws = await engine.create_workspace(name=f"e{chunks}", model=f"fake:{model(chunks)}")
    cpu, t0 = _cpu_self(), time.perf_counter()
    await engine.send(workspace=ws.id, text="go")
    await closed.done.wait()
    wall, cpu = time.perf_counter() - t0, _cpu_self() - cpu
    await engine.close()
    return wall, cpu


async def hosted(paths: Paths, chunks: int) -> tuple[float, float, int]:
    remote = await RemoteEngine(paths).start()
    pid = remote.engine_info["pid"]
    closed = Closed()
    await remote.subscribe(closed)
    ws = await remote.create_workspace(name=f"h{chunks}", model=f"fake:{model(chunks)}")
    cpu, engine_cpu, t0 = _cpu_self(), _cpu_of(pid), time.perf_counter()
    await remote.send(workspace=ws.id, text="go")
    await closed.done.wait()
    wall = time.perf_counter() - t0
    cpu = _cpu_self() - cpu + _cpu_of(pid) - engine_cpu
    await remote.close()
    return wall, cpu, pid


async def reattach(paths: Paths) -> float:
    starter = await RemoteEngine(paths).start()
    slow = model(400, delay_ms=20)
    for i in range(8):
        ws = await starter.create_workspace(name=f"r{i}", model=f"fake:{slow}")
        await starter.send(workspace=ws.id, text="go")
    await asyncio.sleep(1.0)  # let the streams get going: the point is to attach mid-stream
    t0 = time.perf_counter()
    client = await RemoteEngine(paths).start()
    got: list = []
    await client.subscribe(lambda e: None, on_snapshot=got.append)
    took = time.perf_counter() - t0
    live = [w for w in got[0].data["workspaces"] if w["live"] and w["live"]["text"]]
    assert len(live) == 8, f"{len(live)} of 8 live replies in the snapshot"
    await client.close()
    await starter.stop_engine()
    await starter.close()
    return took


def cli_round_trip(home: Path, *args: str, bytecode: bool = True) -> float:
    """Best of 5 wall times of `muxtui ARGS` against the running engine. `bytecode`: as installed
    (muxtui's .pyc files written by a first run); False: as the environment says (a sandbox with
    PYTHONDONTWRITEBYTECODE compiles every muxtui module on every run)."""
    env = child_env(home)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "muxtui", *args], env=env, check=True, capture_output=True)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "muxtui", *args], env=env, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = (5000,) if args.quick else (5000, 20000)
    server = FakeServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "muxhome"
            write_home(home, server.openai_base_url, model(20))
            os.environ.update(child_env(home))
            paths = Paths.under(home)
            paths.ensure()
            print(f"{'case':34} {'embedded':>10} {'host':>10} {'ratio':>7}")
            for chunks in sizes:
                # Best of REPEAT, alternating: a shared machine's noise only ever adds time.
                runs_e, runs_h = [], []
                for _ in range(REPEAT):
                    runs_e.append(asyncio.run(embedded(paths, chunks)))
                    runs_h.append(asyncio.run(hosted(paths, chunks))[:2])
                e_wall, e_cpu = min(r[0] for r in runs_e), min(r[1] for r in runs_e)
                h_wall, h_cpu = min(r[0] for r in runs_h), min(r[1] for r in runs_h)
                print(f"{f'{chunks} chunks: wall s':34} {e_wall:10.3f} {h_wall:10.3f} {h_wall / e_wall:7.2f}")
                print(f"{f'{chunks} chunks: CPU s (all processes)':34} {e_cpu:10.3f} {h_cpu:10.3f} "
                      f"{h_cpu / e_cpu:7.2f}")
            for args in (("engine", "status"), ("workspaces",)):
                label = "CLI round trip (" + " ".join(args) + ") s"
                print(f"{label:34} {'':>10} {cli_round_trip(home, *args):10.3f}")
            if os.environ.get("PYTHONDONTWRITEBYTECODE"):
                took = cli_round_trip(home, "engine", "status", bytecode=False)
                print(f"{'  same, no .pyc (PYTHONDONTWRITEBYTECODE)':34} {'':>10} {took:10.3f}")
            print(f"{'reattach, 8 streaming: snapshot s':34} {'':>10} {asyncio.run(reattach(paths)):10.3f}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
