"""Pilot flows for the bugs a new user hit (issue 15, "Bugs (fix first)"): each test drives the
app as the user did and fails on the code before the fix.

Same rules as test_flows.py: real engine, real HTTP to the fake server, synchronisation on
engine state, the app's event queue and pilot.pause(); never on sleeps.
"""

from __future__ import annotations

import pytest
from textual.widgets import OptionList

from muxtui.engine import trash
from muxtui.engine.storage import Storage
from muxtui.ui.screens import ConfirmScreen, TrashPicker
from tests.ui.conftest import make_app, screen_text, settle
from tests.ui.test_flows import SIZE, disk_history, send, start, until, use_model


# ---- 1: delete asks with No as the default; the trash brings it back ---------------------------

async def test_enter_in_the_delete_dialog_keeps_the_workspace_and_f4_restores_it(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        keep = await start(app, pilot)
        await use_model(app, pilot, "fake:m?text=precious_reply")
        await send(pilot, app, "precious question")
        await app.manager.wait_idle(keep)
        other = await app.manager.create_workspace("other", "fake:plain")
        app.tracker.add(other)
        await settle(app, pilot)

        # ctrl+d then enter (typed ahead, or out of habit): nothing is deleted
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert "enter: no" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the dialog to close")
        await settle(app, pilot)
        assert keep in app.tracker and (paths.workspaces_dir / keep).exists()

        # y deletes: the folder goes to the trash
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: keep not in app.tracker, "the deletion")
        await settle(app, pilot)
        assert app.current_id == other.id
        assert [t.id for t in trash.list_trash(Storage(paths.data_dir))] == [keep]

        # F4 lists the trash; enter restores the highlighted workspace, history and all
        await pilot.press("f4")
        await until(pilot, lambda: isinstance(app.screen, TrashPicker), "the trash picker")
        assert "scratch" in screen_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: app.current_id == keep, "the restored workspace")
        await settle(app, pilot)
        assert [s.id for s in app.tracker.states()] == [other.id, keep]
        assert "precious_reply" in screen_text(app)
        assert [m["content"] for m in disk_history(paths, keep)] == ["precious question", "precious_reply"]
        assert trash.list_trash(Storage(paths.data_dir)) == []
        assert app.focused is app.composer


async def test_restore_is_in_the_palette_and_an_empty_trash_says_so(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        titles = [c.title for c in app.palette_commands()]
        assert "Restore deleted workspace" in titles
        notes: list[str] = []
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        await pilot.press("f4")
        await settle(app, pilot)
        assert not isinstance(app.screen, TrashPicker)
        assert any("trash is empty" in n for n in notes)
