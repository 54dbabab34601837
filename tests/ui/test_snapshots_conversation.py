"""SVG snapshots of conversation control: the message cursor, F1 help, the settings dialog.

Deterministic as tests/ui/test_snapshots.py (fixed clock, no animation, TZ=UTC, seeded history).
"""

from __future__ import annotations

import pytest

from muxtui.ui.dialogs import HelpScreen, SettingsScreen
from tests.helpers.app import make_app
from tests.ui.test_snapshots import conversation, seed, select_last, started

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.usefixtures("utc")]


def test_message_cursor_at_80x24(snap_compare, paths):
    """You should see, at 80x24, the conversation with focus in it: the interrupted reply (the
    one with the open python code fence) highlighted with an accent edge and tinted background,
    the other messages plain; the composer below without focus."""
    ws = seed(paths, "cursor", "fake:thinker", conversation())
    select_last(paths, ws)

    async def run_before(pilot):
        await started(pilot)
        await pilot.press("ctrl+up", "up", "up")
        await pilot.app.drain()
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(80, 24), run_before=run_before)


def test_f1_help(snap_compare, paths, home):
    """You should see the keys dialog over the app: "everywhere" (ctrl+n New, escape Stop, ...,
    with "f9" for Continue because config.toml rebinds it), "composer" (enter Send, alt+enter /
    ctrl+j Newline, up/down history), "messages (after ctrl+up / f4)" (y Copy, c Copy code, e Edit,
    f Fork, r Retry) and "a queued message"; each row ends with its binding id, dimmed."""
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace('default_model = "fake:plain"',
                                           'default_model = "fake:plain"\n[keys]\ncontinue = "f9"', 1))
    seed(paths, "scratch", "fake:plain")

    async def run_before(pilot):
        await started(pilot)
        await pilot.press("f1")
        while not isinstance(pilot.app.screen, HelpScreen):
            await pilot.pause()
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(110, 60), run_before=run_before)


def test_settings_dialog(snap_compare, paths):
    """You should see the "workspace settings" dialog: the system prompt "Answer in French.",
    temperature 0.4, max tokens 800, reasoning effort "high", an empty thinking budget (its
    placeholder says default), and the help line "ctrl+s saves · ..."; behind it the header shows
    "plain · idle · sys · T 0.4 · max 800 · effort high"."""
    ws = seed(paths, "tuned", "fake:plain")
    select_last(paths, ws)

    async def run_before(pilot):
        app = pilot.app
        await started(pilot)
        await app.engine.manager.set_settings(ws, {"system_prompt": "Answer in French.", "temperature": 0.4,
                                            "max_tokens": 800, "reasoning_effort": "high"})
        app._update_title()
        await pilot.press("f5")
        while not isinstance(app.screen, SettingsScreen):
            await pilot.pause()
        app.screen.query_one("#system_prompt").cursor_blink = False
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(100, 36), run_before=run_before)
