"""Crash matrix, app side: the real app under a pseudo-terminal, streaming in two workspaces with
a queued message, killed with SIGKILL at seeded random moments, then restarted through the CLI.

After each kill: nothing committed before is lost, the recovered partial is a prefix of what the
server sent, the queued message is still queued (or sent exactly once), and no file is damaged.
"""

from __future__ import annotations

import os
import random
import signal

from muxtui.engine.storage import Storage
from tests.helpers.cli import history
from tests.helpers.terminal import app_in_pty, read_for, read_until

from .conftest import record

FULL = os.environ.get("MUXTUI_STRESS") == "full"
ROUNDS = 20 if FULL else 2


def test_app_killed_under_a_pty(tmp_path, fake_server):
    rng = random.Random(1121)
    home = tmp_path / "home"
    home.mkdir()
    passed = lost = corrupted = 0
    problems: list[str] = []
    committed_before: dict[str, list[str]] = {}
    seen: set[str] = set()
    recovered = 0
    for k in range(ROUNDS):
        model = f"fake:m?chunks=400&delay_ms=5&seed={k + 1}"
        (home / "config.toml").write_text(
            f'default_model = "{model}"\n[providers.fake]\ntype = "openai"\n'
            f'base_url = "{fake_server.openai_base_url}"\n[stream]\nretry_attempts = 1\n')
        env = {**os.environ, "MUXTUI_HOME": str(home), "TERM": "xterm-256color"}
        pid, fd = app_in_pty(env, "--no-engine")
        out = bytearray()
        read_until(fd, out, b"enter send", 30)
        # Start a stream, queue a message behind it, start a second workspace, then kill.
        for keys in (b"first question\r", b"queued behind it\r", b"\x0e", b"second ws\r", b"hello there\r"):
            os.write(fd, keys)
            read_for(fd, out, 0.3)
        read_for(fd, out, rng.uniform(0.0, 1.5))  # the kill moment, not a synchronisation
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
        ok = True
        queued_total = 0
        storage = Storage(home / "data")
        for info in storage.list_workspaces():
            raw = storage.store(info.id).load_history()
            if raw.warnings:
                corrupted += 1
                ok = False
                problems.append(f"round {k}: {raw.warnings}")
            data = history(home, info.id)
            ids = [m["id"] for m in data["messages"]]
            before = committed_before.get(info.id, [])
            if ids[: len(before)] != before:
                lost += 1
                ok = False
                problems.append(f"round {k}: {info.name}: committed messages changed or vanished")
            committed_before[info.id] = ids
            for m in data["messages"]:
                if m.get("recovered") and m["id"] not in seen:
                    seen.add(m["id"])
                    recovered += 1
                    tail = m["model"].split(":", 1)[1]
                    sent = [fake_server.sent_text(i) for i, r in enumerate(fake_server.requests)
                            if (r["json"] or {}).get("model") == tail]
                    if not any(text.startswith(m["content"]) for text in sent):
                        ok = False
                        problems.append(f"round {k}: recovered text is not a prefix of what was sent")
            users = [t for m in data["messages"] if m["role"] == "user" for t in m["content"].split("\n\n")]
            queued_total += users.count("queued behind it") + [q["text"] for q in data.get("queue", [])].count(
                "queued behind it")
        if queued_total > k + 1:  # typed once per round: never sent or kept twice
            ok = False
            problems.append(f"round {k}: a queued message appears {queued_total} times after {k + 1} rounds")
        passed += ok
    record("app under a pty (SIGKILL)", ROUNDS, passed, lost, corrupted, 0.0, f"{recovered} partials recovered")
    assert not problems, "\n".join(problems)
