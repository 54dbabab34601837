"""Snapshots of the screens the issue-15 bug fixes changed: the badge strip of narrow terminals,
a tiny terminal, a readable mouse selection, and joined emoji in the composer.

Same rules as test_snapshots.py (fixed clock, no animation, UTC); review the report before any
--snapshot-update.
"""

from __future__ import annotations

import pytest
from textual.selection import SELECT_ALL

from muxtui.ui.messages import AssistantMessage, UserMessage
from tests.helpers.app import make_app
from tests.ui.test_snapshots import conversation, seed, select_last, started

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.usefixtures("utc")]


def seed_badges(paths) -> str:
    seed(paths, "failed", "fake:plain", [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "", "model": "fake:plain", "status": "error", "error_type": "server_error",
         "error": "HTTP 500"}])
    seed(paths, "cut short", "fake:thinker", conversation()[:4])
    return seed(paths, "chat", "fake:thinker", conversation()[:2])


def test_narrow_terminal_badge_strip(snap_compare, paths):
    """You should see, at 60x20, the sidebar collapsed to a one-column strip on the left: "1"
    over a red "✗" (failed), "2" over a yellow "↻" (cut short), "3" highlighted (current); the
    chat (the end of the complete reply and its usage line) and the composer use the rest of
    the width, with a border that holds around a family emoji, a heart and Chinese text."""
    current = seed_badges(paths)
    select_last(paths, current)

    async def run_before(pilot):
        await started(pilot)
        pilot.app.composer.load_text("family 👨\u200d👩\u200d👧 heart ❤\ufe0f 中文")
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(60, 20), run_before=run_before)


def test_tiny_terminal_keeps_the_composer(snap_compare, paths):
    """You should see, at 20x6: no header, the badge strip (1 ✗, 2 ↻, 3 highlighted) down the
    left edge, one line of chat, the composer with its rounded border, and the footer."""
    current = seed_badges(paths)
    select_last(paths, current)
    assert snap_compare(make_app(paths), terminal_size=(20, 6), run_before=started)


def test_mouse_selection_is_readable(snap_compare, paths):
    """You should see the user message and the complete reply (with its table) selected: a
    muted blue background behind light text, every word readable (the text used to be drawn in
    the selection colour on the selection colour)."""
    current = seed(paths, "chat", "fake:thinker", conversation()[:2])
    select_last(paths, current)

    async def run_before(pilot):
        app = pilot.app
        await started(pilot)
        app.chat.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        widgets = [app.query_one(UserMessage), *app.query_one(AssistantMessage).body.walk_children()]
        app.screen.selections = {w: SELECT_ALL for w in widgets}
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(100, 30), run_before=run_before)
