"""A workload for the crash matrix: drives the real engine until it is killed with SIGKILL.

    python -m muxtui.testing.crashdriver --home DIR --journal FILE --base-url URL --seed N

Several workspaces stream at once from the fake server while the driver queues messages behind
running streams, renames, deletes and creates workspaces. Every fact the checker may rely on is
appended to the journal only *after* the engine reported it durable, so the journal is always a
subset of what must survive the kill.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
from pathlib import Path

from muxtui import config as config_mod
from muxtui.engine import events as ev
from muxtui.engine.logs import EventLog
from muxtui.engine.manager import StreamManager
from muxtui.engine.storage import Storage
from muxtui.paths import Paths


class Journal:
    def __init__(self, path: Path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __call__(self, **record) -> None:
        os.write(self.fd, (json.dumps(record) + "\n").encode())


async def drive(home: Path, journal: Journal, seed: int, base_url: str, workspaces: int) -> None:
    rng = random.Random(seed)
    paths = Paths.under(home)
    paths.ensure()
    if not paths.config_file.exists():
        paths.config_file.write_text(
            f'default_model = "fake:m"\n[providers.fake]\ntype = "openai"\nbase_url = "{base_url}"\n'
            "[stream]\nretry_attempts = 1\n"
        )
    cfg = config_mod.load(paths.config_file)
    manager = StreamManager(cfg, Storage(paths.data_dir), EventLog(paths.log_dir))

    def on_event(e: ev.Event) -> None:
        if e.type == ev.MESSAGE_ADDED:
            m = e.data["message"]
            journal(kind="committed", ws=e.workspace, id=m["id"], seq=m["seq"], role="user")
        elif e.type in ev.STREAM_CLOSED and e.data.get("persisted"):
            m = e.data["message"]
            journal(kind="committed", ws=e.workspace, id=m["id"], seq=m["seq"], role="assistant")

    manager.subscribe(on_event)
    infos = await manager.list_workspaces()
    for info in infos:
        await manager.open_workspace(info.id)  # recovery of the previous round's partials
    while len(infos) < workspaces:
        infos.append(await manager.create_workspace(f"crash {len(infos)}"))
        journal(kind="created", ws=infos[-1].id)
    journal(kind="ready", pid=os.getpid())
    n = 0
    while True:
        n += 1
        info = rng.choice(infos)
        op = rng.random()
        if op < 0.55:
            model = f"fake:m?chunks={rng.randint(20, 150)}&delay_ms={rng.choice([1, 2, 4])}&seed={seed * 100000 + n}"
            if not manager.is_streaming(info.id):
                await manager.set_model(info.id, model)
            text = f"s{seed}-{n}"
            result = await manager.send(info.id, text)
            if result == "queued":
                journal(kind="queued", ws=info.id, text=text)
        elif op < 0.65:
            name = rng.choice(["plain", "with/slash", "..", "emoji 🦊", "x" * 300, "new\nline"])
            renamed = await manager.rename_workspace(info.id, f"{name} {n}")
            journal(kind="renamed", ws=info.id, name=renamed.name)
        elif op < 0.7 and len(infos) > 1:
            journal(kind="deleting", ws=info.id)  # may be gone from here on
            await manager.delete_workspace(info.id)
            journal(kind="deleted", ws=info.id)
            infos.remove(info)
            infos.append(await manager.create_workspace(f"crash {n}"))
            journal(kind="created", ws=infos[-1].id)
        elif op < 0.8:
            journal(kind="interrupting", ws=info.id)  # queued texts are handed back from here on
            await manager.interrupt(info.id)
        else:
            await asyncio.sleep(rng.uniform(0.0, 0.08))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--home", required=True, type=Path)
    p.add_argument("--journal", required=True, type=Path)
    p.add_argument("--base-url", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workspaces", type=int, default=3)
    a = p.parse_args()
    asyncio.run(drive(a.home, Journal(a.journal), a.seed, a.base_url, a.workspaces))


if __name__ == "__main__":
    main()
