"""Crash matrix: SIGKILL a real muxtui engine process at seeded random moments, restart, check.

Each round starts the crash driver (several workspaces streaming, messages queued behind running
streams, renames, deletes) on the same folder, kills it with SIGKILL after a seeded random delay
(which lands before the first chunk, mid-stream, during partial writes, commits, queue dispatch,
renames and deletes), then restarts through the real `muxtui history` CLI and checks:

- every message the driver saw committed is intact and in order; seq never repeats;
- the recovered partial is a prefix of what the server sent and holds everything the server had
  sent more than one throttle window (plus scheduling slack) before the kill;
- no file is corrupt; queued messages are still queued (or were sent, exactly once);
- deleted workspaces stay deleted, created ones exist.

`make test` runs a few rounds; `make stress` (MUXTUI_STRESS=full) runs 200.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from muxtui.engine.storage import Storage
from tests.helpers.cli import muxtui

from .conftest import record

FULL = os.environ.get("MUXTUI_STRESS") == "full"
ROUNDS = int(os.environ.get("MUXTUI_CRASH_ROUNDS", 200 if FULL else 6))
WINDOW = 0.2  # partial_interval_ms default
SLACK = 0.5  # scheduling on a loaded 2-core machine


def read_journal(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a journal line torn by the kill: the journal is ours, not the product's
    return out


def model_tail(model: str) -> str:
    return model.split(":", 1)[1]


def check_round(home: Path, journal: list[dict], server, sent_before: dict[int, int], seen_recovered: set[str]):
    problems: list[str] = []
    lost = corrupted = 0
    storage = Storage(home / "data")
    listed = {w.id for w in storage.list_workspaces()}
    if storage.warnings:
        corrupted += 1
        problems.append(f"registry: {storage.warnings}")
    deleted = {j["ws"] for j in journal if j["kind"] == "deleted"}
    deleting = {j["ws"] for j in journal if j["kind"] == "deleting"}
    created = {j["ws"] for j in journal if j["kind"] == "created"}
    for ws in created - deleted - deleting:
        if ws not in listed:
            lost += 1
            problems.append(f"workspace {ws} vanished")
    for ws in deleted & listed:
        problems.append(f"deleted workspace {ws} came back")
    longest = 0.0
    for ws in sorted(listed):
        raw = storage.store(ws).load_history()
        if raw.warnings:
            corrupted += 1
            problems.append(f"{ws}: {raw.warnings}")
        t0 = time.monotonic()
        out = muxtui(home, "history", "-w", ws, "--json")  # the real process recovers the partial
        longest = max(longest, time.monotonic() - t0)
        if out.returncode != 0:
            problems.append(f"{ws}: history failed: {out.stderr}")
            continue
        data = json.loads(out.stdout)
        msgs = data["messages"]
        ids = [m["id"] for m in msgs]
        seqs = [m["seq"] for m in msgs]
        if seqs != sorted(set(seqs)):
            problems.append(f"{ws}: seq not strictly increasing")
        lines = [json.loads(x) for x in (home / "data" / "workspaces" / ws / "chat.jsonl").read_text().splitlines()
                 if x.strip()] if (home / "data" / "workspaces" / ws / "chat.jsonl").exists() else []
        raw_seqs = [r["seq"] for r in lines]
        if len(raw_seqs) != len(set(raw_seqs)):
            corrupted += 1
            problems.append(f"{ws}: a seq repeats on disk")
        committed = [j for j in journal if j["kind"] == "committed" and j["ws"] == ws]
        pos = {i: n for n, i in enumerate(ids)}
        order = []
        for j in committed:
            if j["id"] not in pos:
                lost += 1
                problems.append(f"{ws}: committed message {j['id']} lost")
            else:
                order.append(pos[j["id"]])
        if order != sorted(order):
            problems.append(f"{ws}: committed messages out of order")
        if (home / "data" / "workspaces" / ws / "partial.json").exists():
            problems.append(f"{ws}: partial.json left after recovery")
        # Recovered partials: a prefix of what the server sent, missing at most one window.
        for m in msgs:
            if not m.get("recovered") or m["id"] in seen_recovered:
                continue
            seen_recovered.add(m["id"])
            tail = model_tail(m["model"])
            idxs = [i for i, r in enumerate(server.requests) if (r["json"] or {}).get("model") == tail]
            if not idxs:
                # Interrupted before the request reached the server, then killed before the
                # commit: an empty interrupted reply is recovered, with nothing to lose.
                if not m["content"] and m.get("status") == "interrupted":
                    continue
                problems.append(f"{ws}: recovered message for unknown request {tail}")
                continue
            sent = server.sent_text(idxs[-1])
            if not sent.startswith(m["content"]):
                problems.append(f"{ws}: recovered text is not a prefix of what the server sent")
            need = sent_before.get(idxs[-1], 0)
            if len(m["content"]) < need:
                lost += 1
                problems.append(f"{ws}: recovered {len(m['content'])} chars, server had sent {need} "
                                f"more than {WINDOW + SLACK:.1f} s before the kill")
        # Queued texts: still queued, or sent exactly once, unless an interrupt handed them back.
        queue_texts = [q["text"] for q in data.get("queue", [])]
        user_texts = [t for m in msgs if m["role"] == "user" for t in m["content"].split("\n\n")]
        last_interrupt = max((n for n, j in enumerate(journal) if j["kind"] == "interrupting" and j["ws"] == ws),
                             default=-1)
        for n, j in enumerate(journal):
            if j["kind"] != "queued" or j["ws"] != ws or n < last_interrupt:
                continue
            count = queue_texts.count(j["text"]) + user_texts.count(j["text"])
            if count != 1:
                lost += count == 0
                problems.append(f"{ws}: queued {j['text']!r} found {count} times")
    return problems, lost, corrupted, longest


def test_crash_matrix(tmp_path, fake_server):
    home = tmp_path / "home"
    journal_path = tmp_path / "journal.jsonl"
    rng = random.Random(int(os.environ.get("MUXTUI_CRASH_SEED", "20261121")))
    passed = lost_total = corrupt_total = 0
    longest = 0.0
    failures: list[str] = []
    seen_recovered: set[str] = set()
    for k in range(ROUNDS):
        proc = subprocess.Popen(
            [sys.executable, "-m", "muxtui.testing.crashdriver", "--home", str(home), "--journal", str(journal_path),
             "--base-url", fake_server.openai_base_url, "--seed", str(k + 1)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        offset = rng.uniform(0.05, 2.0)  # from spawn: lands in start-up, recovery, streams, commits...
        lead = max(0.0, offset - (WINDOW + SLACK))
        time.sleep(lead)  # choosing the kill moment, not waiting for anything
        before = {i: len(fake_server.sent_text(i)) for i in range(len(fake_server.requests))}
        time.sleep(offset - lead)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        if "Traceback" in (err or ""):
            failures.append(f"round {k}: driver crashed by itself:\n{err[-2000:]}")
            continue
        problems, lost, corrupted, hang = check_round(home, read_journal(journal_path), fake_server, before,
                                                       seen_recovered)
        lost_total += lost
        corrupt_total += corrupted
        longest = max(longest, hang)
        if problems:
            failures.append(f"round {k} (kill at {offset:.2f} s): " + "; ".join(problems[:5]))
        else:
            passed += 1
    record("crash matrix (SIGKILL + restart)", ROUNDS, passed, lost_total, corrupt_total, longest,
           f"{len(seen_recovered)} partials recovered")
    assert not failures, "\n".join(failures[:10])
    assert lost_total == 0 and corrupt_total == 0
