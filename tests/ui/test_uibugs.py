"""Pilot flows for the bugs a new user hit (issue 15, "Bugs (fix first)"): each test drives the
app as the user did and fails on the code before the fix.

Same rules as test_flows.py: real engine, real HTTP to the fake server, synchronisation on
engine state, the app's event queue and pilot.pause(); never on sleeps.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from textual import events
from textual.color import Color
from textual.selection import SELECT_ALL
from textual.widget import Widget
from textual.widgets import Collapsible
from textual.widgets.collapsible import CollapsibleTitle

from muxtui.engine import trash
from muxtui.engine.storage import Storage
from muxtui.ui.chat import QueuedItem
from muxtui.ui.messages import AssistantMessage, UserMessage
from muxtui.ui.screens import ConfirmScreen, ErrorsScreen, TrashPicker
from muxtui.ui.textual_private import screen_strips
from tests.helpers.app import SIZE, make_app, screen_text, send, settle, start, until, use_model, ws_messages
from tests.helpers.home import disk_history


# ---- 1: delete asks with No as the default; the trash brings it back ---------------------------

async def test_enter_in_the_delete_dialog_keeps_the_workspace_and_f6_restores_it(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        keep = await start(app, pilot)
        await use_model(app, pilot, "fake:m?text=precious_reply")
        await send(pilot, app, "precious question")
        await app.engine.manager.wait_idle(keep)
        other = await app.engine.manager.create_workspace("other", "fake:plain")
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
        await pilot.press("f6")
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
        await pilot.press("f6")
        await settle(app, pilot)
        assert not isinstance(app.screen, TrashPicker)
        assert any("trash is empty" in n for n in notes)


# ---- 2: text typed while the focused widget disappears lands in the composer -------------------

def burst(app, text: str) -> None:
    """Queue keys at once, as a terminal read of a fast typist's burst delivers them."""
    for ch in text:
        app.post_message(events.Key(ch, ch))


def seed_reasoning(paths, name: str) -> str:
    storage = Storage(paths.data_dir)
    info = storage.create_workspace(name, "fake:plain")
    store = storage.store(info.id)
    store.append({"id": f"{name}-u", "role": "user", "content": "think", "created_at": 1.0})
    store.append({"id": f"{name}-a", "role": "assistant", "content": "thought", "model": "fake:plain",
                  "status": "complete", "reasoning": "hmm, let me see", "created_at": 2.0})
    return info.id


async def test_typing_while_a_toggled_reasoning_section_is_switched_away(paths):
    first = seed_reasoning(paths, "one")
    second = seed_reasoning(paths, "two")
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await app.select_workspace(first)
        await settle(app, pilot)
        title = app.query_one(Collapsible).query_one(CollapsibleTitle)
        title.focus()
        await pilot.press("enter")  # toggles the reasoning open; the toggle keeps the focus
        await until(pilot, lambda: not app.query_one(Collapsible).collapsed, "the reasoning to open")
        assert app.focused is title
        # switch (alt+down) and keep typing in the same burst: the toggle goes away mid-burst
        app.post_message(events.Key("alt+down", None))
        burst(app, "hello")
        await until(pilot, lambda: app.current_id == second, "the switch")
        await settle(app, pilot)
        assert app.focused is app.composer
        assert app.composer.text == "hello"
        # typing on a toggle that stays (no switch) is not dropped either
        app.query_one(Collapsible).query_one(CollapsibleTitle).focus()
        await pilot.pause()
        burst(app, " world")
        await settle(app, pilot)
        assert app.composer.text == "hello world" and app.focused is app.composer


async def test_typing_while_the_focused_queued_message_is_sent(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=6&pause_after=2&gate=ui-qfocus")
        await send(pilot, app, "first")
        await fake_server.areached("ui-qfocus")
        await send(pilot, app, "queued one")
        await settle(app, pilot)
        [item] = list(app.query(QueuedItem))
        item.focus()
        await pilot.pause()
        assert app.focused is item

        typed_during: list[str] = []

        def on_event(event) -> None:  # the moment the queue empties, type (the UI has not caught up)
            if event.type == "queue.changed" and not event.data.get("items") and not typed_during:
                typed_during.append("x")
                burst(app, "during")

        unsubscribe = app.engine.manager.subscribe(on_event)
        try:
            burst(app, "before ")
            fake_server.release("ui-qfocus")
            await app.engine.manager.wait_idle(ws_id)
            await settle(app, pilot)
        finally:
            unsubscribe()
        assert typed_during
        assert not list(app.query(QueuedItem))
        assert app.focused is app.composer
        assert app.composer.text == "before during"
        assert ws_messages(app)[2]["content"] == "queued one"


# ---- 3: sending while scrolled up follows the new reply ----------------------------------------

async def test_sending_while_scrolled_up_follows_the_reply(paths):
    storage = Storage(paths.data_dir)
    info = storage.create_workspace("long", "fake:m?text=the_new_reply_is_here&chunks=4")
    store = storage.store(info.id)
    for n in range(12):
        store.append({"id": f"u{n}", "role": "user", "content": f"question {n}\n\nmore\n\nlines", "created_at": n})
        store.append({"id": f"a{n}", "role": "assistant", "content": f"answer {n}\n\nsecond paragraph",
                      "model": "fake:m", "status": "complete", "created_at": n + 0.5})
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await settle(app, pilot)
        chat = app.chat
        await pilot.press("pageup", "pageup")
        await settle(app, pilot)
        assert chat.scroll_y < chat.max_scroll_y - 10  # well away from the bottom
        await send(pilot, app, "new question")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        await pilot.pause()
        assert chat.scroll_y == chat.max_scroll_y
        text = screen_text(app)
        assert "new question" in text and "the_new_reply_is_here" in text


# ---- 4 and 5: a mouse selection in the chat is visible, and copies the messages' source --------

LONG_PROSE = ("A paragraph long enough to wrap several times in a pane this narrow, so that the painted "
              "lines end where the renderer broke them and not where the model did.")
REPLY_SOURCE = f"{LONG_PROSE}\n\n```python\ndef f():\n    return 1\n```\n\n- one\n- two"


def seed_copy_chat(paths) -> str:
    storage = Storage(paths.data_dir)
    info = storage.create_workspace("copy", "fake:plain")
    store = storage.store(info.id)
    store.append({"id": "c-u", "role": "user", "content": "first question, " + LONG_PROSE, "created_at": 1.0})
    store.append({"id": "c-a", "role": "assistant", "content": REPLY_SOURCE, "model": "fake:plain",
                  "status": "complete", "created_at": 2.0})
    return info.id


async def drag_select(pilot, start_widget, end_widget) -> None:
    """Press the mouse on the first line of `start_widget`, drag to the last of `end_widget`."""
    await pilot.mouse_down(start_widget, offset=(0, 0))
    end = (max(0, end_widget.size.width - 1), max(0, end_widget.size.height - 1))
    await pilot.hover(end_widget, offset=end)
    await pilot.mouse_up(end_widget, offset=end)
    await pilot.pause()


@pytest.mark.parametrize("theme", ["muxtui-dark", "muxtui-light"])
async def test_selected_chat_text_is_readable(paths, home, theme):
    cfg = home / "config.toml"
    cfg.write_text(f'theme = "{theme}"\n' + cfg.read_text())
    seed_copy_chat(paths)
    app = make_app(paths)
    async with app.run_test(size=(80, 30)) as pilot:
        await start(app, pilot)
        await settle(app, pilot)
        app.chat.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        user = app.query_one(UserMessage)
        reply = app.query_one(AssistantMessage)
        await drag_select(pilot, user, reply)
        assert app.screen.selections
        cells = [(seg.text, seg.style) for strip in screen_strips(app.screen) for seg in strip
                 if seg.style and seg.text.strip() and ("wrap" in seg.text or "def" in seg.text)]
        selection_bg = Color.parse(app.theme_variables["screen-selection-background"]).rgb
        cells = [(text, style) for text, style in cells
                 if style.bgcolor is not None and tuple(style.bgcolor.get_truecolor()) == selection_bg]
        assert any("wrap" in text for text, _ in cells), "the reply is not shown selected"
        for text, style in cells:
            assert style.color is not None
            fg, bg = style.color.get_truecolor(), style.bgcolor.get_truecolor()
            assert fg != bg, f"{text!r}: text in its background colour"
            assert sum(abs(a - b) for a, b in zip(fg, bg)) > 200, f"{text!r}: {fg} on {bg} is unreadable"


async def test_copying_whole_messages_copies_their_source(paths):
    seed_copy_chat(paths)
    app = make_app(paths)
    async with app.run_test(size=(80, 30)) as pilot:
        await start(app, pilot)
        await settle(app, pilot)
        app.chat.scroll_home(animate=False, immediate=True)
        await pilot.pause()
        user = app.query_one(UserMessage)
        reply = app.query_one(AssistantMessage)
        await drag_select(pilot, user, reply)
        await pilot.press("ctrl+c")  # the composer has focus and no selection: the screen copies
        await pilot.pause()
        copied = app.clipboard
        assert REPLY_SOURCE in copied  # no hard newlines at wrap points, no extra indentation
        assert "first question, " + LONG_PROSE in copied
        assert copied.index("first question") < copied.index("A paragraph")
        # a selection of only the reply's body (as a triple click makes) copies just its source
        app.screen.clear_selection()
        app.screen.selections = {w: SELECT_ALL for w in reply.body.walk_children(Widget)}
        assert app.screen.get_selected_text() == REPLY_SOURCE


# ---- 13: ctrl+r on a complete reply asks first -------------------------------------------------

async def test_regenerating_a_complete_reply_asks_first(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?text=answer_one")
        await send(pilot, app, "question")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        await use_model(app, pilot, "fake:m?text=answer_two")

        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert isinstance(app.screen, ConfirmScreen), "ctrl+r regenerated a complete reply without asking"
        assert "Regenerate" in screen_text(app)
        await pilot.press("n")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert [m["content"] for m in ws_messages(app)] == ["question", "answer_one"]

        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("enter")  # enter = yes here: nothing is lost
        await until(pilot, lambda: app.engine.manager.is_streaming(ws_id) or ws_messages(app)[-1]["content"] == "answer_two",
                    "the regeneration")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert [m["content"] for m in ws_messages(app)] == ["question", "answer_two"]
        # the old reply is still on disk, behind the truncation record
        raw = (paths.workspaces_dir / ws_id / "chat.jsonl").read_text()
        assert "answer_one" in raw and "answer_two" in raw


# ---- 8: the sidebar badge says the same before and after switching away and back ---------------

def sidebar_text(app) -> str:
    width = app.sidebar.outer_size.width
    return "\n".join(line[:width] for line in screen_text(app).splitlines()[1:])


async def test_badge_is_the_same_after_switching_away_and_back(paths, fake_server):
    """An error (✗), then a new reply interrupted with esc: the live badge kept ✗ while a
    re-read of the history (switching back) showed ↻; both now describe the last reply."""
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        other = await app.engine.manager.create_workspace("other", "fake:plain")
        app.tracker.add(other)
        await use_model(app, pilot, "fake:m?status=500")
        await send(pilot, app, "fails")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert "✗ server_error" in screen_text(app)
        await use_model(app, pilot, "fake:m?chunks=9&pause_after=2&gate=ui-badge8")
        await send(pilot, app, "then cut short")
        await fake_server.areached("ui-badge8")
        await pilot.press("escape")
        await app.engine.manager.wait_idle(ws_id)
        fake_server.release("ui-badge8")
        await settle(app, pilot)
        before = (app.tracker.get(ws_id), sidebar_text(app))
        await pilot.press("alt+2")
        await until(pilot, lambda: app.current_id == other.id, "the switch away")
        await pilot.press("alt+1")
        await until(pilot, lambda: app.current_id == ws_id, "the switch back")
        await settle(app, pilot)
        after = (app.tracker.get(ws_id), sidebar_text(app))
        assert before == after
        assert "↻ resumable" in after[1] and "✗" not in after[1]


# ---- 11: the screenshot works without ~/Downloads and says where it went ----------------------

async def test_screenshot_without_downloads_goes_to_the_state_folder(paths, tmp_path):
    assert not (tmp_path / "Downloads").exists()  # HOME is tmp_path (conftest)
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        notes: list[tuple[str, str]] = []
        app.notify = lambda message, **kw: notes.append((str(message), kw.get("severity", "information")))  # type: ignore[method-assign]
        palette = {c.title: c for c in app.get_system_commands(app.screen)}
        [title] = [t for t in palette if "creenshot" in t]
        palette[title].callback()  # what the palette's "Screenshot" runs (after a short timer)
        await until(pilot, lambda: notes, "the screenshot notice")
        folder = paths.log_dir.parent / "screenshots"
        shots = list(folder.glob("*.svg"))
        assert len(shots) == 1 and shots[0].read_text().startswith("<svg")
        assert notes == [(f"saved to {shots[0]}", "information")]
        # with ~/Downloads present, that is where it goes
        (tmp_path / "Downloads").mkdir()
        notes.clear()
        app.deliver_screenshot()
        assert len(list((tmp_path / "Downloads").glob("*.svg"))) == 1
        assert notes and str(tmp_path / "Downloads") in notes[0][0]


# ---- 12: the errors view leaves out the user's own interrupts (i shows them) --------------------

async def test_errors_view_hides_own_interrupts_with_a_toggle(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        for n in range(2):  # two replies stopped with esc
            await use_model(app, pilot, f"fake:m?chunks=9&pause_after=2&gate=ui-int12-{n}")
            await send(pilot, app, f"stop me {n}")
            await fake_server.areached(f"ui-int12-{n}")
            await pilot.press("escape")
            await app.engine.manager.wait_idle(ws_id)
            fake_server.release(f"ui-int12-{n}")
        await use_model(app, pilot, "fake:m?status=500")
        await send(pilot, app, "a real failure")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)

        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, ErrorsScreen), "the errors view")
        await pilot.pause()
        text = screen_text(app)
        assert "errors · 1 in 1 group" in text
        assert "server_error" in text and "interrupted/" not in text
        assert "2 of your own interrupts hidden (i shows)" in text
        await pilot.press("i")
        await pilot.pause()
        text = screen_text(app)
        assert "errors · 3 in 2 groups" in text and "interrupted/" in text
        await pilot.press("i")
        await pilot.pause()
        assert "errors · 1 in 1 group" in screen_text(app)


# ---- 6: workspaces created or deleted by another process show up within a second --------------

async def test_workspaces_from_another_process_appear_within_a_second(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        first = await start(app, pilot)
        other_process = Storage(paths.data_dir)  # its own Storage, as `muxtui send` has
        made = time.monotonic()
        info = await asyncio.to_thread(other_process.create_workspace, "from the cli", "fake:plain")
        await until(pilot, lambda: info.id in app.tracker, "the new workspace", timeout=10)
        waited = time.monotonic() - made
        await settle(app, pilot)
        assert "from the cli" in sidebar_text(app)
        print(f"appeared after {waited:.2f} s")
        assert waited < 1.0 + 0.5, f"took {waited:.2f} s"  # the watch interval is 0.5 s
        # it can be opened and used like any other
        await pilot.press("alt+2")
        await until(pilot, lambda: app.current_id == info.id, "the switch")
        # one made with a failed reply already in it shows its badge (synchronous here: the
        # app's poll, on this event loop, cannot look between the two writes)
        failed = other_process.create_workspace("failed elsewhere", "fake:plain")
        other_process.store(failed.id).append({"id": "f-u", "role": "user", "content": "x", "created_at": 1.0})
        other_process.store(failed.id).append({"id": "f-a", "role": "assistant", "content": "", "status": "error",
                                               "error_type": "rate_limit", "model": "fake:plain", "created_at": 2.0})
        await until(pilot, lambda: getattr(app.tracker.get(failed.id), "error_type", None) == "rate_limit",
                    "the failed workspace's badge", timeout=10)
        # and one deleted elsewhere leaves the sidebar (the current one stays until switched away)
        await asyncio.to_thread(other_process.delete_workspace, first)
        await until(pilot, lambda: first not in app.tracker, "the deleted workspace to go", timeout=10)
        await settle(app, pilot)
        assert [s.id for s in app.tracker.states()] == [info.id, failed.id]


# ---- 10: emoji sequences in the composer keep its border straight ------------------------------

JOINED = "family 👨\u200d👩\u200d👧 heart ❤\ufe0f thumbs 👍\U0001F3FD coder 👩\U0001F3FD\u200d💻 wide 中文 end"


async def test_joined_emoji_are_shown_unjoined_and_sent_intact(paths):
    app = make_app(paths)
    async with app.run_test(size=(80, 24)) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?text=ok")
        composer = app.composer
        composer.load_text(JOINED)
        await pilot.pause()
        region = composer.region
        rows = screen_strips(app.screen)[region.y:region.bottom]
        shown = "\n".join(strip.text[region.x:region.right] for strip in rows)
        # The terminal would join these (its width, not the layout's): none may reach the screen.
        for joiner in ("\u200d", "\ufe0f", "\U0001F3FD"):
            assert joiner not in shown, f"{joiner!r} reaches the terminal"
        assert "👨\u200b👩\u200b👧" in shown and "中文" in shown
        # every row of the composer is exactly its width, borders included
        for strip in rows:
            assert strip.cell_length == 80
        await pilot.press("enter")
        await until(pilot, lambda: len(ws_messages(app)) >= 1, "the message")
        await app.engine.manager.wait_idle(ws_id)
        assert ws_messages(app)[0]["content"] == JOINED  # what is sent keeps every code point


# ---- 14: narrow and short terminals: a badge strip, and the composer always on screen -----------

@pytest.mark.parametrize("size", [(20, 6), (40, 10), (69, 24), (70, 24), (80, 24), (120, 40)])
async def test_composer_stays_visible_and_the_sidebar_collapses(paths, size):
    seed_reasoning(paths, "one")
    seed_reasoning(paths, "two")
    app = make_app(paths)
    async with app.run_test(size=size) as pilot:
        await start(app, pilot)
        app.composer.load_text("some words\nover\nseveral\nlines\nof text")
        await settle(app, pilot)
        width, height = size
        screen_region = app.screen.region
        composer = app.composer.region
        assert composer.height >= 3 and screen_region.contains_region(composer), composer
        if width < 70:
            assert app.sidebar.outer_size.width == 1  # the badge strip
            assert composer.width >= width - 1
        else:
            assert app.sidebar.outer_size.width >= 20
        # typing still reaches the composer
        burst(app, "!")
        await settle(app, pilot)
        assert app.composer.text.startswith("!some words")


async def test_badge_strip_shows_numbers_and_badges(paths, fake_server):
    seed_reasoning(paths, "one")
    app = make_app(paths)
    async with app.run_test(size=(60, 20)) as pilot:
        first = await start(app, pilot)
        failing = await app.engine.manager.create_workspace("failing", "fake:m?status=500")
        app.tracker.add(failing)
        await app.engine.manager.send(failing.id, "x")
        await app.engine.manager.wait_idle(failing.id)
        await settle(app, pilot)
        lines = screen_text(app).splitlines()[1:5]
        assert [line[:1] for line in lines] == ["1", " ", "2", "✗"]
        await pilot.press("alt+2")
        await until(pilot, lambda: app.current_id == failing.id, "the switch")
        assert app.current_id != first


def test_selection_colours_are_opaque_and_readable_for_any_palette():
    from muxtui.ui.themes import selection_colors

    # Textual's default: primary at 50% over "transparent" text
    dark = selection_colors({"background": "#14171c", "foreground": "#d0d4db",
                             "screen-selection-background": "#5FAFD77F", "screen-selection-foreground": "transparent"})
    assert dark == {"screen-selection-background": "#396279", "screen-selection-foreground": "#D0D4DB"}
    # a foreground too close to the blended background gets black or white instead
    close = selection_colors({"background": "#808080", "foreground": "#7f8f8f",
                              "screen-selection-background": "#80808080", "screen-selection-foreground": "transparent"})
    assert close == {"screen-selection-background": "#808080", "screen-selection-foreground": "#000000"}
    # ANSI themes are left to the terminal
    assert selection_colors({"background": "ansi_default", "foreground": "ansi_default",
                             "screen-selection-background": "ansi_bright_blue",
                             "screen-selection-foreground": "ansi_black"}) == {}
