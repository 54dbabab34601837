"""Pilot flows: the app driven by keys against the local fake server (real HTTP, real engine).

Synchronisation is on engine state (wait_idle), fake-server gates, the app's event queue
(app.drain) and pilot.pause(); never on sleeps (the helpers are in tests.helpers.app).
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest
from textual.widgets import Input, OptionList

from muxtui.engine.storage import Storage
from muxtui.ui.chat import QueuedItem
from muxtui.ui.messages import AssistantMessage, UserMessage
from muxtui.ui.composer import Composer
from muxtui.ui.screens import ConfirmScreen, ErrorsScreen, ModelPicker, NameScreen
from muxtui.ui.textual_private import notifications, timer_running
from tests.helpers.app import SIZE, make_app, screen_text, send, settle, start, until, use_model, ws_messages
from tests.helpers.home import disk_history


# ---- first run, create, send ------------------------------------------------------------------

async def test_first_run_creates_scratch(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        states = app.tracker.states()
        assert [s.name for s in states] == ["scratch"]
        assert states[0].model == "fake:plain"
        assert app.title == "scratch"
        assert "plain" in app.sub_title and "idle" in app.sub_title
        text = screen_text(app)
        assert "scratch" in text and "New conversation" in text
        assert app.focused is app.query_one(Composer)
    ui = json.loads((paths.data_dir / "ui.json").read_text())
    assert ui["last_workspace"] == ws_id
    assert [i.name for i in Storage(paths.data_dir).list_workspaces()] == ["scratch"]


async def test_create_workspace_with_ctrl_n(paths):
    """ctrl+n asks nothing: the workspace exists at once and its first message names it."""
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: len(app.tracker.states()) == 2, "the new workspace")
        await settle(app, pilot)
        assert len(app.screen_stack) == 1 and app.focused is app.composer
        assert app.tracker.get(app.current_id).name == "new workspace"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: len(app.tracker.states()) == 3, "a second one")
        assert app.tracker.get(app.current_id).name == "new workspace 2"
        await send(pilot, app, "research the tides\nof the north sea")
        await until(pilot, lambda: app.tracker.get(app.current_id).name == "research the tides", "the name")
        await app.engine.manager.wait_idle(app.current_id)
        await settle(app, pilot)
        assert app.title == "research the tides"
        assert "research the tides" in screen_text(app)
        await send(pilot, app, "a second message renames nothing")
        await app.engine.manager.wait_idle(app.current_id)
        await settle(app, pilot)
        assert app.tracker.get(app.current_id).name == "research the tides"
    assert [i.name for i in Storage(paths.data_dir).list_workspaces()] == [
        "scratch", "new workspace", "research the tides"]


async def test_new_workspace_with_a_name_from_the_palette(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await app.run_action("new_named_workspace")
        await until(pilot, lambda: isinstance(app.screen, NameScreen) and app.screen.query(Input), "the name dialog")
        app.screen.query_one(Input).value = "research"
        await pilot.press("enter")
        await until(pilot, lambda: len(app.tracker.states()) == 2, "the new workspace")
        assert app.tracker.get(app.current_id).name == "research"


async def test_typing_ahead_through_the_name_dialog_never_crashes(paths):
    """Over SSH a fast typist's keys arrive in one burst: ctrl+n, a name, enter, more text, enter.
    A second enter reaching the dialog used to pop the screen beneath it (ScreenStackError)."""
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        from textual import events

        # Queued all at once, as the terminal driver does with one read of a burst of keys.
        for key, char in [("ctrl+n", None), ("w", "w"), ("s", "s"), ("3", "3"), ("enter", "\r"),
                          ("h", "h"), ("i", "i"), ("enter", "\r"), ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        await settle(app, pilot)
        await pilot.pause()
        assert app.is_running
        assert not isinstance(app.screen, NameScreen)
        names = [s.name for s in app.tracker.states()]
        assert names[0] == "scratch" and len(names) <= 2


async def test_send_streams_to_completion(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?text=Hello_from_the_fake_server._**Bold**_end.&delay_ms=1")
        await send(pilot, app, "hi there")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert app.query_one(Composer).text == ""  # cleared once accepted
        messages = ws_messages(app)
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[1]["status"] == "complete"
        assert messages[1]["content"] == "Hello_from_the_fake_server._**Bold**_end."
        text = screen_text(app)
        assert "hi there" in text
        assert "Hello_from_the_fake_server." in text
        assert "tokens" in text  # usage shown
        state = app.tracker.get(ws_id)
        assert not state.streaming and state.error_type is None
    assert disk_history(paths, ws_id)[1]["content"] == "Hello_from_the_fake_server._**Bold**_end."


async def test_interrupt_with_escape(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=40&pause_after=4&gate=ui-int")
        await send(pilot, app, "tell me a story")
        await fake_server.areached("ui-int")
        await until(pilot, lambda: app.chat.live is not None and app.chat.live.body.text, "streamed text")
        assert app.tracker.get(ws_id).streaming
        await pilot.press("escape")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        fake_server.release("ui-int")
        last = ws_messages(app)[-1]
        assert last["status"] == "interrupted" and last["content"]
        state = app.tracker.get(ws_id)
        assert state.interrupted and not state.streaming
        text = screen_text(app)
        assert "interrupted — ctrl+g continues it, ctrl+r regenerates it" in text
        assert "resumable" in text  # the sidebar badge
    assert disk_history(paths, ws_id)[-1]["status"] == "interrupted"


async def test_queue_then_auto_send(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=6&pause_after=2&gate=ui-queue")
        await send(pilot, app, "first")
        await fake_server.areached("ui-queue")
        await send(pilot, app, "second")
        await send(pilot, app, "third")
        await settle(app, pilot)
        items = list(app.query(QueuedItem))
        assert [(w.number, w.text) for w in items] == [(1, "second"), (2, "third")]
        assert app.tracker.get(ws_id).queued == 2
        text = screen_text(app)
        assert "1. second" in text and "2. third" in text and "+2 queued" in text
        fake_server.release("ui-queue")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        messages = ws_messages(app)
        assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
        assert messages[2]["content"] == "second\n\nthird"
        assert all(m.get("status", "complete") == "complete" for m in messages)
        assert not list(app.query(QueuedItem))
        assert app.tracker.get(ws_id).queued == 0
        assert "sent from the queue" in screen_text(app)


async def test_queued_message_edit_remove_and_recall(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=6&pause_after=2&gate=ui-qedit")
        await send(pilot, app, "first")
        await fake_server.areached("ui-qedit")
        for word in ("alpha", "beta", "gamma"):
            await send(pilot, app, word)
        await settle(app, pilot)
        composer = app.query_one(Composer)
        composer.load_text("my draft")
        # focus the second queued item, e edits it in the composer, enter saves it in place
        items = list(app.query(QueuedItem))
        items[1].focus()
        await pilot.press("e")
        await until(pilot, lambda: composer.editing is not None, "edit mode")
        assert composer.text == "beta" and app.focused is composer
        composer.load_text("BETA")
        await pilot.press("enter")
        await until(pilot, lambda: [q["text"] for q in app.engine.manager.workspace(ws_id).queue] == ["alpha", "BETA", "gamma"],
                    "the edited queue")
        assert composer.editing is None and composer.text == "my draft"  # the draft came back
        # delete removes a focused item
        await settle(app, pilot)
        list(app.query(QueuedItem))[0].focus()
        await pilot.press("delete")
        await until(pilot, lambda: [q["text"] for q in app.engine.manager.workspace(ws_id).queue] == ["BETA", "gamma"],
                    "the removal")
        # up in an empty composer pulls the last queued message back
        composer.focus()
        composer.load_text("")
        await pilot.press("up")
        await until(pilot, lambda: composer.text == "gamma", "the recalled message")
        assert [q["text"] for q in app.engine.manager.workspace(ws_id).queue] == ["BETA"]
        fake_server.release("ui-qedit")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert ws_messages(app)[2]["content"] == "BETA"


async def test_interrupt_hands_queue_back_to_composer(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=6&pause_after=2&gate=ui-handback")
        await send(pilot, app, "first")
        await fake_server.areached("ui-handback")
        await send(pilot, app, "queued one")
        await pilot.press("escape")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        fake_server.release("ui-handback")
        assert app.query_one(Composer).text == "queued one"
        assert app.engine.manager.workspace(ws_id).queue == []


async def test_error_badge_appears_and_clears(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:x?status=500")
        await send(pilot, app, "will fail")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        last = ws_messages(app)[-1]
        assert last["status"] == "error" and last["error_type"] == "server_error"
        assert app.tracker.get(ws_id).error_type == "server_error"
        text = screen_text(app)
        assert "✗ server_error" in text  # badge and message
        assert "the provider failed: ctrl+r to retry" in text  # the hint
        assert "error: server_error" in app.sub_title
        # the next good turn clears it
        await use_model(app, pilot, "fake:ok?chunks=3")
        await send(pilot, app, "again")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert app.tracker.get(ws_id).error_type is None
        assert "error" not in app.sub_title
        assert ws_messages(app)[-1]["status"] == "complete"


async def test_retry_with_ctrl_r_replaces_the_failed_reply(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:x?status=503")
        await send(pilot, app, "please")
        await app.engine.manager.wait_idle(ws_id)
        await use_model(app, pilot, "fake:ok?text=recovered_reply")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: ws_messages(app)[-1].get("content") == "recovered_reply", "the retried reply")
        await settle(app, pilot)
        assert [m["role"] for m in ws_messages(app)] == ["user", "assistant"]
        text = screen_text(app)
        assert "recovered_reply" in text and "server_error" not in text


async def test_switch_workspaces_while_two_stream(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        a = await start(app, pilot)
        await use_model(app, pilot, "fake:a?chunks=8&pause_after=3&gate=ui-swa&seed=1")
        b_info = await app.engine.manager.create_workspace("second", "fake:b?chunks=8&pause_after=3&gate=ui-swb&seed=2")
        app.tracker.add(b_info)
        await send(pilot, app, "in a")
        await fake_server.areached("ui-swa")
        await pilot.press("alt+down")
        await until(pilot, lambda: app.current_id == b_info.id, "workspace b")
        await send(pilot, app, "in b")
        await fake_server.areached("ui-swb")
        assert app.tracker.get(a).streaming and app.tracker.get(b_info.id).streaming
        await pilot.press("alt+up")
        await until(pilot, lambda: app.current_id == a, "workspace a")
        await settle(app, pilot)
        # switching in shows what streamed so far and keeps following
        sent_a = fake_server.sent_text(fake_server.request_index("a?chunks=8&pause_after=3&gate=ui-swa&seed=1"))
        await until(pilot, lambda: app.chat.live is not None and app.chat.live.body.text == sent_a, "a's text so far")
        fake_server.release("ui-swa")
        fake_server.release("ui-swb")
        await app.engine.manager.wait_idle(a)
        await app.engine.manager.wait_idle(b_info.id)
        await settle(app, pilot)
        sa, sb = app.tracker.get(a), app.tracker.get(b_info.id)
        assert not sa.streaming and not sb.streaming
        assert not sa.unread  # on screen
        assert sb.unread  # finished in the background
        assert ws_messages(app, a)[-1]["status"] == "complete"
        assert ws_messages(app, b_info.id)[-1]["status"] == "complete"
        replies = [w for w in app.query(AssistantMessage)]
        assert len(replies) == 1 and replies[0].body.text == ws_messages(app, a)[-1]["content"]
        await pilot.press("alt+2")
        await until(pilot, lambda: app.current_id == b_info.id, "jump to 2")
        await settle(app, pilot)
        assert not app.tracker.get(b_info.id).unread


async def test_rename_with_f2(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, NameScreen), "the rename dialog")
        await pilot.press("r", "e")  # the old name is selected: typing replaces it
        assert app.screen.query_one(Input).value == "re"
        app.screen.query_one(Input).value = "renamed"
        await pilot.press("enter")
        await until(pilot, lambda: app.tracker.get(ws_id).name == "renamed", "the new name")
        await settle(app, pilot)
        assert app.title == "renamed"
        assert "renamed" in screen_text(app)
    assert Storage(paths.data_dir).list_workspaces()[0].name == "renamed"


async def test_delete_while_streaming(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        keep = await start(app, pilot)
        doomed = await app.engine.manager.create_workspace("doomed", "fake:d?chunks=20&pause_after=2&gate=ui-del")
        app.tracker.add(doomed)
        await app.select_workspace(doomed.id)
        await send(pilot, app, "stream then die")
        await fake_server.areached("ui-del")
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        assert "streaming" in screen_text(app)
        await pilot.press("y")
        await until(pilot, lambda: doomed.id not in app.tracker, "the deletion")
        await settle(app, pilot)
        fake_server.release("ui-del")
        assert app.current_id == keep
        assert [i.id for i in Storage(paths.data_dir).list_workspaces()] == [keep]
        assert not (paths.workspaces_dir / doomed.id).exists()
        assert "doomed" not in screen_text(app)
    # after everything has shut down: still no late write recreated the folder
    assert not (paths.workspaces_dir / doomed.id).exists()


async def test_delete_last_workspace_leaves_a_fresh_scratch(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        only = await start(app, pilot)
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: app.current_id not in (None, only), "a new workspace")
        assert [s.name for s in app.tracker.states()] == ["scratch"]


async def test_restart_finds_history_and_recovered_partial(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?text=kept_reply")
        await send(pilot, app, "remember me")
        await app.engine.manager.wait_idle(ws_id)
        crashed = await app.engine.manager.create_workspace("crashed", "fake:plain")
        await settle(app, pilot)
    # a crash mid-reply in "crashed": a user message on disk and a partial reply left behind
    store = Storage(paths.data_dir).store(crashed.id)
    store.append({"id": "m-user", "role": "user", "content": "long question", "created_at": 1.0})
    store.write_partial({"request_id": "r-crash", "message_id": "m-crash", "model": "fake:plain",
                         "content": "half an answer", "created_at": 2.0, "status": "streaming"})
    app2 = make_app(paths)
    async with app2.run_test(size=SIZE) as pilot:
        await start(app2, pilot)
        assert app2.current_id == ws_id  # the last selected workspace
        text = screen_text(app2)
        assert "remember me" in text and "kept_reply" in text
        await until(pilot, lambda: app2.tracker.get(crashed.id).recovered, "the recovered badge")
        await settle(app2, pilot)
        assert "↻ recovered" in screen_text(app2)
        await pilot.press("alt+2")
        await until(pilot, lambda: app2.current_id == crashed.id, "the crashed workspace")
        await settle(app2, pilot)
        text = screen_text(app2)
        assert "half an answer" in text
        assert "recovered after a crash — ctrl+g continues it" in text
        last = app2.engine.manager.workspace(crashed.id).messages[-1]
        assert last["status"] == "interrupted" and last["recovered"]
    assert not store.partial.exists()


HOSTILE = "[/INST] [bold]x[/bold] [link=http://x]y[/link] \x1b[2J \x1b]52;c;aGk=\x07"


async def test_hostile_markup_renders_literally(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?text=" + quote(HOSTILE))
        await app.engine.manager.rename_workspace(ws_id, "[bold]ws[/bold] [/INST]")
        await send(pilot, app, "user says " + HOSTILE)
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert ws_messages(app)[-1]["content"] == HOSTILE
        text = screen_text(app)
        assert "\x1b" not in text and "\x07" not in text
        assert "[/INST] [bold]x[/bold]" in text
        assert "[link=http://x]y[/link]" in text
        assert "␛[2J" in text and "␛]52;c;aGk=␇" in text
        assert "[bold]ws[/bold] [/INST]" in text  # the sidebar row and title
        assert app.title == "[bold]ws[/bold] [/INST]"
        # the command palette lists the workspace by name without parsing it
        await pilot.press("ctrl+p")
        await pilot.press("g", "o")
        await until(pilot, lambda: "[bold]ws[/bold]" in screen_text(app), "the palette hit")


async def test_draft_is_kept_per_workspace_and_across_restart(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        a = await start(app, pilot)
        b = await app.engine.manager.create_workspace("other")
        app.tracker.add(b)
        composer = app.query_one(Composer)
        composer.load_text("draft for a")
        await pilot.press("alt+down")
        await until(pilot, lambda: app.current_id == b.id, "b")
        assert composer.text == ""
        composer.load_text("draft for b")
        await pilot.press("alt+up")
        await until(pilot, lambda: app.current_id == a, "a")
        assert composer.text == "draft for a"
    drafts = json.loads((paths.data_dir / "ui.json").read_text())["drafts"]
    assert drafts == {a: "draft for a", b.id: "draft for b"}
    app2 = make_app(paths)
    async with app2.run_test(size=SIZE) as pilot:
        await start(app2, pilot)
        assert app2.query_one(Composer).text == "draft for a"


async def test_draft_survives_a_refused_send(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        # another muxtui process holds this workspace's stream lock
        other = Storage(paths.data_dir).store(ws_id)
        assert other.try_lock_stream()
        try:
            app.query_one(Composer).load_text("precious")
            await pilot.press("enter")
            await until(pilot, lambda: any("another muxtui process" in str(n.message)
                                           for n in notifications(app)), "the busy notice")
            assert app.query_one(Composer).text == "precious"
            assert ws_messages(app) == []
        finally:
            other.unlock_stream()


async def test_newline_keys_do_not_send(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("a", "alt+enter", "b", "ctrl+j", "c")
        assert app.query_one(Composer).text == "a\nb\nc"
        assert ws_messages(app) == []


async def test_model_picker_sets_the_model(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        app.screen.query_one(Input).value = "chunks"
        await pilot.press("enter")
        await until(pilot, lambda: app.tracker.get(ws_id).model == "fake:plain?chunks=5", "the picked model")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        app.screen.query_one(Input).value = "demo:custom-free-entry"
        await pilot.press("enter")
        await until(pilot, lambda: app.tracker.get(ws_id).model == "demo:custom-free-entry", "the typed model")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        app.screen.query_one(Input).value = "no-colon-here"
        await pilot.press("enter")
        await until(pilot, lambda: any("provider" in str(n.message) for n in notifications(app)), "the error")
        assert app.tracker.get(ws_id).model == "demo:custom-free-entry"


async def test_errors_view_opens_and_closes(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:x?status=500")
        await send(pilot, app, "fail")
        await app.engine.manager.wait_idle(ws_id)
        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, ErrorsScreen), "the errors view")
        await pilot.pause()
        text = screen_text(app)
        assert "upstream_error/server_error/fake" in text
        assert "scratch" in text and "status 500" in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ErrorsScreen), "closing")


async def test_quit_asks_while_streaming_and_commits_partials(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=30&pause_after=3&gate=ui-quit")
        await send(pilot, app, "long one")
        await fake_server.areached("ui-quit")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "no")
        assert app.engine.manager.is_streaming(ws_id)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await until(pilot, lambda: app.return_code is not None, "the exit")
    fake_server.release("ui-quit")
    last = disk_history(paths, ws_id)[-1]
    assert last["role"] == "assistant" and last["status"] == "interrupted"


async def test_sighup_commits_partials_and_exits(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=30&pause_after=3&gate=ui-hup")
        await send(pilot, app, "long one")
        await fake_server.areached("ui-hup")
        app._on_signal(1)  # what loop.add_signal_handler calls for SIGHUP
        await until(pilot, lambda: app.return_code is not None, "the exit")
    fake_server.release("ui-hup")
    assert disk_history(paths, ws_id)[-1]["status"] == "interrupted"


async def test_long_history_mounts_a_window_and_loads_earlier(paths):
    store_root = Storage(paths.data_dir)
    info = store_root.create_workspace("long", "fake:plain")
    store = store_root.store(info.id)
    for i in range(100):
        store.append({"id": f"u{i}", "role": "user", "content": f"question {i}", "created_at": float(i)})
        store.append({"id": f"a{i}", "role": "assistant", "content": f"answer {i}", "created_at": float(i),
                      "model": "fake:plain", "status": "complete"})
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        mounted = lambda: len(app.query(UserMessage)) + len(app.query(AssistantMessage))  # noqa: E731
        assert mounted() == 40
        assert "answer 99" in screen_text(app)  # following the bottom
        await pilot.press("ctrl+home")
        await until(pilot, lambda: mounted() == 80, "the earlier messages")
        await until(pilot, lambda: "120 earlier messages" in str(app.chat.marker.render()), "the marker")
        await pilot.pause()
        app.chat.scroll_home(animate=False)  # reaching the top by scrolling loads more too
        await until(pilot, lambda: mounted() == 120, "more on scrolling to the top")
        await until(pilot, lambda: "80 earlier messages" in str(app.chat.marker.render()), "the marker")


async def test_keymap_from_config(paths, home):
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace('default_model = "fake:plain"',
                                           'default_model = "fake:plain"\n[keys]\nnew-workspace = "f6"\nbogus = "f7"', 1))
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert any("bogus" in str(n.message) for n in notifications(app))
        await pilot.press("f6")
        await until(pilot, lambda: len(app.tracker.states()) == 2, "a new workspace via f6")


async def test_invalid_config_runs_on_defaults_and_is_never_written(paths, home):
    cfg = home / "config.toml"
    cfg.write_text('theme = "muxtui-dark"\ndefault_model = 42\n')
    before = cfg.read_bytes()
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        messages = [str(n.message) for n in notifications(app)]
        assert any("config.toml" in m and "line 2" in m and "default_model" in m for m in messages)
        assert [s.model for s in app.tracker.states()] == ["demo:muxtui-demo"]
        app.theme = "muxtui-light"
        await pilot.pause()
        await pilot.pause()
    assert cfg.read_bytes() == before


async def test_theme_choice_is_saved(paths, home):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert app.theme == "muxtui-dark"
        app.theme = "muxtui-light"
        await until(pilot, lambda: 'theme = "muxtui-light"' in (home / "config.toml").read_text(), "the saved theme")
    assert "[providers.fake]" in (home / "config.toml").read_text()  # the rest is untouched


async def test_bad_theme_file_is_reported_and_good_ones_load(paths, home):
    themes = home / "themes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#ff0000"\nbackground = "#000000"\n')
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        assert "mine" in app.available_themes and "broken" not in app.available_themes
        assert any("broken.toml" in str(n.message) for n in notifications(app))
        assert "textual-dark" in app.available_themes  # the built-ins still work


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_layout_at_common_sizes(paths, size):
    app = make_app(paths)
    async with app.run_test(size=size) as pilot:
        await start(app, pilot)
        sidebar = app.sidebar
        assert sidebar.outer_size.width == (22 if size[0] < 100 else 28)
        assert app.query_one(Composer).size.width > 40


async def test_deltas_are_batched_and_timers_stop_when_idle(paths, fake_server):
    app = make_app(paths, animate=True)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        assert not timer_running(app._spinner_timer)  # nothing streams: no spinner ticks
        assert not timer_running(app._frame_timer)
        posted = []
        original_post = app.post_message

        def counting_post(message):
            posted.append(type(message).__name__)
            return original_post(message)

        app.post_message = counting_post
        await use_model(app, pilot, "fake:m?chunks=300&pause_after=150&gate=ui-batch")
        deltas = []
        unsubscribe = app.engine.manager.subscribe(lambda e: deltas.append(e) if e.type == "stream.delta" else None)
        await send(pilot, app, "go")
        await fake_server.areached("ui-batch")
        await until(pilot, lambda: timer_running(app._spinner_timer), "the spinner")  # the one timer
        fake_server.release("ui-batch")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        unsubscribe()
        app.post_message = original_post
        assert len(deltas) >= 300
        assert len(posted) < len(deltas) / 5  # no Textual message per delta
        assert app.chat.query(AssistantMessage).last().body.text == ws_messages(app)[-1]["content"]
        assert not timer_running(app._spinner_timer)
        assert not timer_running(app._frame_timer)


async def test_a_burst_of_keys_keeps_its_order(paths, fake_server):
    """Over SSH keys arrive in bursts: enter and alt+enter must apply exactly where typed."""
    from textual import events

    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=4&pause_after=1&gate=ui-burst")
        burst = [*"one", "alt+enter", *"two", "enter", *"next", "enter", *"draft"]
        for key in burst:  # all queued at once, as one read from a slow terminal would
            char = key if len(key) == 1 else ("\r" if key == "enter" else None)
            app.post_message(events.Key(key, char))
        await until(pilot, lambda: len(app.engine.manager.workspace(ws_id).queue) == 1, "the queued second message")
        await settle(app, pilot)
        assert ws_messages(app)[0]["content"] == "one\ntwo"
        assert app.engine.manager.workspace(ws_id).queue[0]["text"] == "next"
        assert app.query_one(Composer).text == "draft"
        fake_server.release("ui-burst")
        await app.engine.manager.wait_idle(ws_id)


async def test_editing_keys_in_a_burst_apply_where_typed(paths):
    """TextArea's editing keys are bindings: in a burst they ran after the letters typed after
    them ("helo", backspace, "lo" gave "helol"). Found in tmux with send-keys."""
    from textual import events

    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        composer = app.query_one(Composer)
        burst = [*"helo", "backspace", *"lo", "left", "left", "left", "X", "home", "Y", "ctrl+k",
                 *"start", "end", *" end", "ctrl+w", *"fin"]
        for key in burst:  # all queued at once, as one read from a slow terminal would
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await until(pilot, lambda: composer.text.endswith("fin"), "the burst typed")
        await settle(app, pilot)
        assert composer.text == "Ystart fin"


async def test_retry_shows_a_transient_line(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        app.engine.manager.config.stream.retry_attempts = 2
        backoff = asyncio.Event()

        async def held_sleep(delay: float) -> None:  # the engine's backoff wait, held by the test
            await backoff.wait()

        app.engine.manager.sleep = held_sleep
        await use_model(app, pilot, "fake:r?status=503&fail_first=1&text=second_try_worked")
        await send(pilot, app, "flaky")
        await until(pilot, lambda: "retrying in" in screen_text(app), "the retry line")
        assert "server_error" in screen_text(app)
        backoff.set()
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        text = screen_text(app)
        assert "second_try_worked" in text and "retrying in" not in text
        assert ws_messages(app)[-1]["status"] == "complete"


async def test_rapid_switching_while_two_workspaces_stream(paths):
    """Switching back and forth while both stream never loses or duplicates text."""
    from textual import events

    app = make_app(paths, animate=True)
    async with app.run_test(size=SIZE) as pilot:
        a = await start(app, pilot)
        await use_model(app, pilot, "fake:a?chunks=120&delay_ms=2&seed=4")
        b_info = await app.engine.manager.create_workspace("b", "fake:b?chunks=120&delay_ms=2&seed=3")
        app.tracker.add(b_info)
        await app.engine.manager.send(a, "go")
        await app.engine.manager.send(b_info.id, "go")
        switches = 0
        while switches < 12 and (app.engine.manager.is_streaming(a) or app.engine.manager.is_streaming(b_info.id)):
            app.post_message(events.Key("alt+down", None))
            switches += 1
            await app.drain()
            await asyncio.sleep(0)  # a yield, not a wait: the streams run meanwhile
        await app.engine.manager.wait_idle(a)
        await app.engine.manager.wait_idle(b_info.id)
        await settle(app, pilot)
        assert switches > 3 and app.is_running
        shown = app.chat.query(AssistantMessage).last()
        assert shown.body.text == ws_messages(app)[-1]["content"]
        assert len(app.chat.query(AssistantMessage)) == 1
        assert all(ws_messages(app, w)[-1]["status"] == "complete" for w in (a, b_info.id))


async def test_palette_commands_run_the_actions(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        for query, expected in (("New workspace with a name", NameScreen), ("Errors", ErrorsScreen)):
            await pilot.press("ctrl+p")
            await until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", "the palette")
            app.screen.query_one(Input).value = query
            await until(pilot, lambda: app.screen.query_one(OptionList).option_count > 0, "the hits")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, expected), f"{expected.__name__}")
            await pilot.press("escape")
            await until(pilot, lambda: len(app.screen_stack) == 1, "closing")
