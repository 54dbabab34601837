"""Pilot flows for conversation control: message navigation and copy, edit and resend, fork,
retry from a message, send now, prompt history, settings, continue, F1 help, toasts.

Real HTTP to the fake server; synchronisation on engine state, gates and app.drain(), never sleeps.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from textual.widgets import Input, OptionList, TextArea

from muxtui.engine.storage import Storage
from muxtui.ui import clipboard
from muxtui.ui.chat import QueuedItem
from muxtui.ui.messages import AssistantMessage, UserMessage
from muxtui.ui.composer import Composer
from muxtui.ui.dialogs import CodeBlockPicker, HelpScreen, HistorySearch, SettingsScreen
from muxtui.ui.navigation import MessageChatView, code_blocks
from muxtui.ui.screens import ConfirmScreen
from muxtui.ui.textual_private import notifications
from tests.helpers.app import SIZE, make_app, screen_text, send, settle, start, until, use_model, ws_messages

CODE_REPLY = """Two snippets:

```python
def f():
    return 1
```

and

```sh
echo "a  b"
  indented
```
"""


@pytest.fixture(autouse=True)
def quiet_clipboard(monkeypatch):
    """No tmux, no SSH and no system clipboard tool: only OSC 52, whatever machine runs this."""
    for var in ("TMUX", "SSH_CONNECTION", "SSH_TTY", "SSH_CLIENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(clipboard, "SYSTEM_TOOLS", ())


def toasts(app) -> list[str]:
    return [str(n.message) for n in notifications(app)]


async def converse(app, pilot, model: str, *texts: str) -> str:
    ws_id = app.current_id
    await use_model(app, pilot, model)
    for text in texts:
        await send(pilot, app, text)
        await app.engine.manager.wait_idle(ws_id)
    await settle(app, pilot)
    return ws_id


def selected(app):
    return [w for w in app.chat.messages() if w.has_class("-selected")]


# ---- 20. navigation and copy -------------------------------------------------------------------

async def test_navigate_messages_and_copy_source_text(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await converse(app, pilot, f"fake:m?text={quote(CODE_REPLY)}", "first question", "second question")
        await pilot.press("ctrl+up")
        await until(pilot, lambda: isinstance(app.focused, MessageChatView), "focus in the conversation")
        assert [type(w) for w in selected(app)] == [AssistantMessage]  # the newest message
        await pilot.press("up")
        assert isinstance(selected(app)[0], UserMessage)
        await pilot.press("y")
        await settle(app, pilot)
        assert app.clipboard == "second question"
        assert any("copied 15 characters" in t for t in toasts(app))
        # The reply: its Markdown source, not the wrapped, indented rendering.
        await pilot.press("down")
        await pilot.press("y")
        await settle(app, pilot)
        assert app.clipboard == CODE_REPLY
        # c with two code blocks asks which; 2 copies the second exactly.
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CodeBlockPicker), "the code block picker")
        await pilot.press("2")
        await until(pilot, lambda: app.clipboard == 'echo "a  b"\n  indented\n', "the second block copied")
        # Leaving the conversation puts the focus back in the composer, the highlight goes.
        await pilot.press("home")  # the first message: the view scrolls up to it
        await pilot.pause()
        assert app.chat.scroll_y < app.chat.max_scroll_y
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.focused, Composer), "back to the composer")
        assert selected(app) == []
        await until(pilot, lambda: app.chat.scroll_y == app.chat.max_scroll_y, "following the bottom again")


async def test_copy_over_the_osc52_limit_says_so(paths):
    app = make_app(paths)
    big = "x" * (clipboard.OSC52_MAX_BASE64 // 4 * 3 + 10)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        result = await app.copy_text(big, "message")
        await settle(app, pilot)
        assert result.too_large and not result.via
        assert any("not copied" in t and "limit" in t for t in toasts(app))
        saved = paths.data_dir / "last-copy.txt"
        assert saved.read_text() == big and str(saved) in toasts(app)[-1]


def test_osc52_sequences_and_tmux_passthrough(monkeypatch):
    monkeypatch.setattr(clipboard, "SYSTEM_TOOLS", ((("xclip", "-selection", "clipboard"), "DISPLAY"),))
    written: list[str] = []
    result = clipboard.copy("héllo", written.append, env={"TMUX": "/tmp/x", "DISPLAY": ":0"},
                            run_tool=lambda argv, text: True, which=lambda name: "/usr/bin/" + name)
    payload = base64.b64encode("héllo".encode()).decode()
    assert written[0] == f"\x1b]52;c;{payload}\a"
    assert written[1] == f"\x1bPtmux;\x1b\x1b]52;c;{payload}\a\x1b\\"
    assert result.via == ["terminal (OSC 52)", "tmux buffer", "system clipboard"]
    assert result.message().startswith("copied 5 characters")
    # Over SSH no local clipboard tool is tried; at the limit exactly it still fits.
    called = []
    clipboard.copy("a", written.append, env={"SSH_TTY": "/dev/pts/1"},
                   run_tool=lambda argv, text: called.append(argv) or True, which=lambda n: n)
    assert called == []
    assert clipboard.fits_osc52("a" * (clipboard.OSC52_MAX_BASE64 // 4 * 3))
    assert not clipboard.fits_osc52("a" * (clipboard.OSC52_MAX_BASE64 // 4 * 3 + 1))


def test_code_blocks_keep_their_source():
    blocks = code_blocks(CODE_REPLY + "\n    indented code\n")
    assert [b.language for b in blocks] == ["python", "sh", ""]
    assert blocks[0].text == "def f():\n    return 1\n"
    assert blocks[2].text == "indented code\n"


# ---- 16. edit and resend, fork, retry from a message ---------------------------------------------

async def test_edit_an_earlier_message_and_resend(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await converse(app, pilot, "fake:m?text=ok", "one", "two")
        composer = app.composer
        composer.load_text("my draft")
        await pilot.press("ctrl+up")
        for _ in range(3):
            await pilot.press("up")
        assert selected(app)[0].message_id == ws_messages(app)[0]["id"]
        await pilot.press("e")
        await until(pilot, lambda: composer.resend_seq is not None and app.focused is composer, "edit mode")
        assert composer.text == "one" and "resends" in composer.border_title
        composer.load_text("one, edited")
        await pilot.press("enter")
        await until(pilot, lambda: [m["content"] for m in ws_messages(app)][:1] == ["one, edited"], "the resend")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert [m["content"] for m in ws_messages(app)] == ["one, edited", "ok"]
        assert composer.text == "my draft" and composer.resend_seq is None  # the draft came back
        lines = Storage(paths.data_dir).store(ws_id).chat.read_text().splitlines()
        assert sum('"content":"two"' in line for line in lines) == 1  # the old branch is kept
        assert "one, edited" in screen_text(app) and "two" not in screen_text(app)


async def test_edit_only_user_messages_and_escape_cancels(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await converse(app, pilot, "fake:m?text=ok", "one")
        await pilot.press("ctrl+up", "e")
        await settle(app, pilot)
        assert any("only your own messages" in t for t in toasts(app))
        await pilot.press("up", "e")
        await until(pilot, lambda: app.composer.resend_seq is not None, "edit mode")
        await pilot.press("escape")
        await until(pilot, lambda: app.composer.resend_seq is None and app.composer.text == "", "cancelled")
        assert len(ws_messages(app)) == 2


async def test_fork_at_a_message(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        source = await start(app, pilot)
        await converse(app, pilot, "fake:m?text=ok", "one", "two")
        await pilot.press("ctrl+up", "up", "up")  # the first reply
        await pilot.press("f")
        await until(pilot, lambda: app.current_id != source, "the fork selected")
        await settle(app, pilot)
        assert app.tracker.get(app.current_id).name == "fork: scratch"
        assert [m["content"] for m in ws_messages(app)] == ["one", "ok"]
        assert len(ws_messages(app, source)) == 4
        assert "fork: scratch" in screen_text(app)


async def test_retry_from_an_earlier_reply_asks_then_regenerates(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await converse(app, pilot, "fake:m?text=ok", "one", "two")
        await use_model(app, pilot, "fake:m?text=again")
        await pilot.press("ctrl+up", "up", "up", "r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await until(pilot, lambda: [m["content"] for m in ws_messages(app)] == ["one", "again"], "the regenerated reply")
        await app.engine.manager.wait_idle(ws_id)


# ---- 18. send now -------------------------------------------------------------------------------

async def test_send_queued_now_interrupts_the_reply(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=40&pause_after=3&gate=ui-sendnow")
        await send(pilot, app, "first")
        await fake_server.areached("ui-sendnow")
        await send(pilot, app, "queued a")
        await send(pilot, app, "queued b")
        await settle(app, pilot)
        await use_model(app, pilot, "fake:m?text=done")
        list(app.query(QueuedItem))[1].focus()
        await pilot.press("s")  # on a focused queued message: send this one now
        await until(pilot, lambda: any(m["content"] == "queued b" for m in ws_messages(app)), "b sent")
        fake_server.release("ui-sendnow")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        messages = ws_messages(app)
        assert [m["content"] for m in messages if m["role"] == "user"] == ["first", "queued b", "queued a"]
        assert messages[1]["status"] == "interrupted"
        assert "interrupted" in screen_text(app) or messages[1]["status"] == "interrupted"


async def test_ctrl_s_sends_the_whole_queue_now(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=40&pause_after=3&gate=ui-sendall")
        await send(pilot, app, "first")
        await fake_server.areached("ui-sendall")
        await send(pilot, app, "queued a")
        await send(pilot, app, "queued b")
        await use_model(app, pilot, "fake:m?text=done")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: any(m["content"] == "queued a\n\nqueued b" for m in ws_messages(app)), "sent")
        fake_server.release("ui-sendall")
        await app.engine.manager.wait_idle(ws_id)
        assert ws_messages(app)[1]["status"] == "interrupted"
        assert app.engine.manager.workspace(ws_id).queue == []


# ---- 19. prompt history --------------------------------------------------------------------------

async def test_prompt_history_walks_this_workspace_then_all(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        first = await start(app, pilot)
        await converse(app, pilot, "fake:m?text=ok", "alpha", "beta")
        other = await app.engine.manager.create_workspace("other", "fake:m?text=ok")
        app.tracker.add(other)
        await app.select_workspace(other.id)
        await converse(app, pilot, "fake:m?text=ok", "gamma")
        composer = app.composer
        composer.focus()
        composer.load_text("dr")  # a draft: up on its first line walks back, down brings it back
        walk = []
        for _ in range(4):
            await pilot.press("up")
            await settle(app, pilot)
            walk.append(composer.text)
        assert walk == ["gamma", "beta", "alpha", "alpha"]
        await pilot.press("down")
        await settle(app, pilot)
        assert composer.text == "beta"
        for _ in range(3):
            await pilot.press("down")
            await settle(app, pilot)
        assert composer.text == "dr" and composer.history_index is None
        assert first in app.tracker


async def test_prompt_history_search(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await converse(app, pilot, "fake:m?text=ok", "how do tides work", "what is a monad")
        await pilot.press("alt+r")
        await until(pilot, lambda: isinstance(app.screen, HistorySearch), "the search")
        app.screen.query_one(Input).value = "tide"
        await until(pilot, lambda: app.screen.query_one(OptionList).option_count == 1, "one hit")
        await pilot.press("enter")
        await until(pilot, lambda: app.composer.text == "how do tides work", "the prompt in the composer")


# ---- 15. settings --------------------------------------------------------------------------------

async def test_the_system_prompt_field_applies_a_burst_of_keys_in_order(paths):
    """The settings' TextArea: backspace in a burst ran after the letters typed after it."""
    from textual import events

    app = make_app(paths)
    async with app.run_test(size=(100, 40)) as pilot:
        await start(app, pilot)
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings dialog")
        field = app.screen.query_one("#system_prompt", TextArea)
        await until(pilot, lambda: field.has_focus, "the prompt field focused")
        for key in [*"Frenhc", "backspace", "backspace", *"ch."]:  # all queued at once
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await until(pilot, lambda: field.text.endswith("."), "the burst typed")
        await settle(app, pilot)
        assert field.text == "French."


async def test_settings_dialog_saves_shows_and_sends(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=(100, 40)) as pilot:
        ws_id = await start(app, pilot)
        model = "m?text=ok&seed=4242"
        await use_model(app, pilot, f"fake:{model}")
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings dialog")
        app.screen.query_one("#system_prompt", TextArea).load_text("Answer in French.")
        app.screen.query_one("#temperature", Input).value = "hot"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, SettingsScreen)  # a bad value keeps the dialog open
        assert any("temperature" in t for t in toasts(app))
        app.screen.query_one("#temperature", Input).value = "0.4"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, SettingsScreen), "saved")
        await settle(app, pilot)
        assert "sys · T 0.4" in app.sub_title
        settings = json.loads((paths.data_dir / "workspaces" / ws_id / "settings.json").read_text())["settings"]
        assert settings == {"system_prompt": "Answer in French.", "temperature": 0.4}
        await send(pilot, app, "bonjour")
        await app.engine.manager.wait_idle(ws_id)
        body = fake_server.requests[fake_server.request_index(model)]["json"]
        assert body["temperature"] == 0.4 and body["messages"][0]["content"] == "Answer in French."


async def test_settings_presets_from_config(paths, home):
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text() + '\n[presets.precise]\ntemperature = 0.1\nmax_tokens = 500\n')
    app = make_app(paths)
    async with app.run_test(size=(100, 40)) as pilot:
        await start(app, pilot)
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings dialog")
        from textual.widgets import Select

        app.screen.query_one("#preset", Select).value = "precise"
        await until(pilot, lambda: app.screen.query_one("#max_tokens", Input).value == "500", "the preset applied")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, SettingsScreen), "saved")
        assert app.engine.manager.effective_settings(app.current_id) == {"temperature": 0.1, "max_tokens": 500}


# ---- 17. continue --------------------------------------------------------------------------------

async def test_continue_an_interrupted_reply(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?text=Once_upon_a_time_there&pause_after=3&gate=ui-cont")
        await send(pilot, app, "story")
        await fake_server.areached("ui-cont")
        await until(pilot, lambda: app.chat.live is not None and app.chat.live.body.text, "streamed text")
        await pilot.press("escape")
        await app.engine.manager.wait_idle(ws_id)
        fake_server.release("ui-cont")
        await settle(app, pilot)
        assert "interrupted (ctrl+g continues, ctrl+r regenerates)" in app.sub_title
        partial = ws_messages(app)[-1]["content"]
        assert partial and ws_messages(app)[-1]["status"] == "interrupted"
        await use_model(app, pilot, "fake:m?text=_the_end.")
        await pilot.press("ctrl+g")
        await until(pilot, lambda: app.engine.manager.is_streaming(ws_id) or ws_messages(app)[-1]["status"] == "complete",
                    "the continuation")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        messages = ws_messages(app)
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert messages[-1]["content"] == partial + "_the_end." and messages[-1]["status"] == "complete"
        assert len(app.chat.messages()) == 2  # one joined reply on screen
        # A complete reply cannot be continued: it says so.
        await pilot.press("ctrl+g")
        await settle(app, pilot)
        assert any("nothing to continue" in t for t in toasts(app))


# ---- 21. help ------------------------------------------------------------------------------------

async def test_f1_shows_every_key_from_the_live_keymap(paths, home):
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace('default_model = "fake:plain"',
                                           'default_model = "fake:plain"\n[keys]\ncontinue = "f9"\nmessage-copy = "w"', 1))
    app = make_app(paths)
    async with app.run_test(size=(120, 60)) as pilot:
        await start(app, pilot)
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.pause()
        text = screen_text(app)
        for expected in ("f9", "Continue", "ctrl+n", "New", "Copy code", "Send now", "F1" if False else "f1",
                         "message-copy", "enter", "Send"):
            assert expected in text, expected
        assert "ctrl+g" not in text  # the rebinding replaced it
        await pilot.press("f1")
        await until(pilot, lambda: len(app.screen_stack) == 1, "closed")
        # The rebinding works, not just the help text.
        await converse(app, pilot, "fake:m?text=copied_reply", "q")
        await pilot.press("ctrl+up", "w")
        await until(pilot, lambda: app.clipboard == "copied_reply", "copy with the rebound key")


async def test_every_new_action_is_in_the_palette(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        titles = {c.title for c in app.palette_commands()}
        for title in ("Help: keys", "Go to messages", "Copy last reply", "Continue reply", "Send queued now",
                      "Fork workspace", "Workspace settings", "Search prompt history"):
            assert title in titles
        await pilot.press("ctrl+p")
        await until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", "the palette")
        app.screen.query_one(Input).value = "Workspace settings"
        await until(pilot, lambda: app.screen.query_one(OptionList).option_count > 0, "the hits")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "settings via the palette")


# ---- 22. toasts never cover the composer ---------------------------------------------------------

@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_toasts_never_cover_the_composer(paths, size):
    app = make_app(paths)
    async with app.run_test(size=size, notifications=True) as pilot:
        await start(app, pilot)
        app.composer.load_text("\n".join(f"line {n}" for n in range(30)))  # the tallest composer
        for n in range(4):
            app.notify(f"toast number {n} with a fairly long text that wraps over a few lines", timeout=30)
        await until(pilot, lambda: len(app.screen.query("Toast")) == 4, "the toasts")
        await pilot.pause()
        composer = app.composer.region
        toast_regions = [t.region for t in app.screen.query("ToastRack")]
        assert toast_regions
        assert all(not r.overlaps(composer) for r in toast_regions), (toast_regions, composer)


async def test_go_to_messages_from_the_palette_keeps_the_focus_there(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await converse(app, pilot, "fake:m?text=ok", "one")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: app.screen.__class__.__name__ == "CommandPalette", "the palette")
        app.screen.query_one(Input).value = "Go to messages"
        await until(pilot, lambda: app.screen.query_one(OptionList).option_count > 0, "the hits")
        await pilot.press("enter")
        await until(pilot, lambda: len(app.screen_stack) == 1, "the palette closed")
        await pilot.pause()
        assert isinstance(app.focused, MessageChatView) and selected(app)
        await pilot.press("y")
        await until(pilot, lambda: app.clipboard == "ok", "a copy from the cursor")


async def test_f1_over_a_dialog_shows_that_dialogs_keys(paths):
    app = make_app(paths)
    async with app.run_test(size=(100, 40)) as pilot:
        await start(app, pilot)
        await pilot.press("f5")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "the settings dialog")
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help")
        await pilot.pause()
        text = screen_text(app)
        assert "this dialog" in text and "ctrl+s" in text and "settings-save" in text
        assert "new-workspace" not in text  # only what works on that dialog
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), "back on the dialog")


# ---- Esc leaves the conversation or a queued message; it does not stop the reply ---------------

async def test_escape_in_the_conversation_or_on_a_queued_message_leaves_without_interrupting(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:m?chunks=6&pause_after=2&gate=ui-esc-leave")
        await send(pilot, app, "first")
        await fake_server.areached("ui-esc-leave")
        await send(pilot, app, "queued one")
        await settle(app, pilot)
        await pilot.press("ctrl+up")
        await until(pilot, lambda: isinstance(app.focused, MessageChatView), "focus in the conversation")
        await pilot.press("escape")
        await until(pilot, lambda: app.focused is app.composer, "back in the composer")
        assert app.engine.manager.is_streaming(ws_id)  # the reply goes on
        [item] = list(app.query(QueuedItem))
        item.focus()
        await pilot.pause()
        await pilot.press("escape")
        await until(pilot, lambda: app.focused is app.composer, "back in the composer from the queue")
        assert app.engine.manager.is_streaming(ws_id) and list(app.query(QueuedItem))  # still queued
        await pilot.press("escape")  # from the composer, Esc still stops the reply
        await app.engine.manager.wait_idle(ws_id)
        assert ws_messages(app)[1]["status"] == "interrupted"
        fake_server.release("ui-esc-leave")
