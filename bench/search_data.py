"""The search bench's data: N workspaces of M messages, written straight in the storage format.

meta.json and chat.jsonl are written as Storage and WorkspaceStore.append write them (without
the per-record fsync, and with a registry as Storage writes it), so
200,000 messages take seconds, not the minutes the real append path would.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from muxtui.engine.storage import FORMAT_VERSION, new_id

# A vocabulary with a long tail, like real text: a few words everywhere, most words rare.
_COMMON = ("the of and to in is that it for you with on as are this be can use your not or "
           "function error python file code data value return model request server test").split()


def _vocabulary(rng: random.Random, size: int = 20000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [("".join(rng.choice(letters) for _ in range(rng.randint(3, 10)))) for _ in range(size)]


def make_search_folder(data_dir: Path, workspaces: int, messages: int, seed: int = 11) -> dict:
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    root = Path(data_dir) / "workspaces"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    start = time.time() - 86400 * 60
    needle_ws = None
    registry = []
    for index in range(workspaces):
        ws_id = f"w{index:06x}bench"
        folder = root / ws_id
        folder.mkdir(mode=0o700, exist_ok=True)
        model = f"fake:model-{index % 7}"
        (folder / "meta.json").write_text(json.dumps({"v": FORMAT_VERSION, "id": ws_id, "name": f"project {index}",
                                                      "model": model, "created_at": start + index}))
        lines = []
        for seq in range(1, messages + 1):
            user = seq % 2 == 1
            words = [rng.choice(_COMMON) if rng.random() < 0.5 else vocab[int(rng.paretovariate(1.2)) % len(vocab)]
                     for _ in range(rng.randint(8, 60) if user else rng.randint(40, 200))]
            if index == workspaces // 2 and seq == messages // 2:
                words.insert(3, "zanzibarquux")  # one message to find among all of them
                needle_ws = ws_id
            record = {"id": new_id("m"), "role": "user" if user else "assistant", "content": " ".join(words),
                      "created_at": start + index * 1000 + seq, "v": FORMAT_VERSION, "kind": "message", "seq": seq}
            if not user:
                record.update(model=model, status="complete")
            lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        (folder / "chat.jsonl").write_text("\n".join(lines) + "\n")
        registry.append({"id": ws_id, "name": f"project {index}", "model": model, "created_at": start + index,
                         "last_activity": start + index * 1000 + messages, "last_status": "complete",
                         "last_error_type": None})
    # As a folder in use has it (else the app's first start rebuilds it from 1,000 folders).
    (Path(data_dir) / "workspaces.json").write_text(json.dumps({"version": FORMAT_VERSION, "workspaces": registry}))
    return {"needle": "zanzibarquux", "needle_ws": needle_ws, "messages": workspaces * messages}
