"""SVG snapshots of attachments: chips under a sent and a queued message, chips in the composer,
and the ``@path`` suggestions. Deterministic as tests/ui/test_snapshots.py (fixed clock, no
animation, TZ=UTC, seeded history; the suggestions list a tmp folder made here)."""

from __future__ import annotations

import pytest

from muxtui.engine.storage import Storage
from muxtui.ui.at_paths import AtSuggestions
from tests.helpers.app import FIXED_NOW, make_app
from tests.ui.test_snapshots import seed, select_last, started

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.usefixtures("utc")]

MAIN = {"id": "a" * 64, "name": "main.py", "mime": "text/x-python", "kind": "text", "size": 2_140}
SHOT = {"id": "b" * 64, "name": "screenshot.png", "mime": "image/png", "kind": "image", "size": 48_213}
NOTES = {"id": "c" * 64, "name": "notes.md", "mime": "text/markdown", "kind": "text", "size": 812}
PASTE = {"id": "d" * 64, "name": "pasted text, 120 lines", "mime": "text/plain", "kind": "text", "size": 4_210}


def history() -> list[dict]:
    return [
        {"role": "user", "content": "Why does the button in the screenshot not call area()?",
         "attachments": [MAIN, SHOT]},
        {"role": "assistant", "content": "The click handler is bound to `on_press`, but the button posts "
                                         "`Pressed`: rename the handler to `on_button_pressed`.",
         "model": "fake:vision", "status": "complete", "usage": {"input_tokens": 1_204, "output_tokens": 31}},
    ]


def test_chips_at_80x24(snap_compare, paths):
    """You should see, at 80x24, the user message "Why does the button…" with a row of two chips
    under it ("📎 main.py · 2.1 KB" and "📎 screenshot.png · image · 48.2 KB"), the reply, and
    the composer holding two chips ("⟦📎 notes.md · 812 B #1⟧", "⟦📎 pasted text, 120 lines ·
    4.2 KB #2⟧") before the typed words "and these?"."""
    ws = seed(paths, "attachments", "fake:vision", history())
    select_last(paths, ws)

    async def run_before(pilot):
        app = pilot.app
        await started(pilot)
        app.composer.add_attachment(NOTES)
        app.composer.add_attachment(PASTE)
        await pilot.press(*"and these?")
        await app.drain()
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(80, 24), run_before=run_before)


def test_queued_chips_and_at_suggestions_at_120x40(snap_compare, paths, tmp_path, monkeypatch):
    """You should see, at 120x40, the conversation, then a queued message "1. and the tests
    📎 notes.md · 812 B", and above the composer (which holds "compare @") the suggestion list
    of the current folder: "@main.py" highlighted, "@screenshot.png", "@src/", and the line
    "tab completes · ↑↓ choose"."""
    folder = tmp_path / "project"
    (folder / "src").mkdir(parents=True)
    (folder / "main.py").write_text("print(1)\n")
    (folder / "screenshot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    monkeypatch.chdir(folder)
    ws = seed(paths, "attachments", "fake:vision", history())
    Storage(paths.data_dir).store(ws).save_queue(
        [{"id": "q-1", "text": "and the tests", "created_at": FIXED_NOW, "attachments": [NOTES]}])
    select_last(paths, ws)

    async def run_before(pilot):
        app = pilot.app
        await started(pilot)
        await pilot.press(*"compare @")
        suggestions = app.query_one(AtSuggestions)
        while not suggestions.display:
            await pilot.pause()
        await app.drain()
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(120, 40), run_before=run_before)
