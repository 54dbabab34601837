"""A data folder written by the version before the client API (commit c05ece8, kept in
tests/fixtures/datafolder-c05ece8) loads through the client API unchanged: every message as it
is on disk, the queue, the error badge's fields, and the crash's partial recovered; the bytes
already on disk are never rewritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from muxtui import config as config_mod
from muxtui.client import Engine, WorkspaceSnapshot
from muxtui.paths import Paths

FIXTURE = Path(__file__).parent.parent / "fixtures" / "datafolder-c05ece8"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def test_an_old_data_folder_loads_through_the_client_api(tmp_path):
    paths = Paths.under(tmp_path / "home")
    shutil.copytree(FIXTURE, paths.data_dir)
    before = {p.relative_to(paths.data_dir): p.read_bytes() for p in paths.data_dir.rglob("chat.jsonl")}
    engine = Engine(paths, config_mod.load_or_default(paths.config_file), search=False)
    try:
        infos = {i.name: i for i in await engine.list_workspaces()}
        assert set(infos) == {"notes", "errors and queue"}

        errors = await engine.open_workspace(infos["errors and queue"].id)
        on_disk = lines(paths.data_dir / "workspaces" / errors.info.id / "chat.jsonl")
        assert errors.messages == on_disk  # every field, as written
        assert errors.messages[-1]["error_type"] == "rate_limit" and errors.messages[-1]["retry_at"] == 1796000033.0
        assert [q["text"] for q in errors.queue] == ["queued one"]
        assert errors.live is None

        notes = await engine.open_workspace(infos["notes"].id)
        assert notes.messages[:2] == lines(paths.data_dir / "workspaces" / notes.info.id / "chat.jsonl")[:2]
        recovered = notes.messages[-1]  # the partial a crash left, committed as interrupted
        assert recovered["status"] == "interrupted" and recovered["recovered"] is True
        assert recovered["content"] == "left by a crash"
        assert notes.messages[0]["content"] == "hello ✓ 😀" and notes.messages[1]["usage"]["output_tokens"] == 34

        # The snapshot crosses JSON (the engine host's socket) unchanged.
        assert WorkspaceSnapshot.from_dict(json.loads(json.dumps(notes.to_dict()))) == notes
    finally:
        await engine.close()
    for rel, data in before.items():  # appended to (the recovery), never rewritten
        assert (paths.data_dir / rel).read_bytes().startswith(data)
