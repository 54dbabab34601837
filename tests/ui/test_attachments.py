"""Attaching files from the app: the picker (alt+a), ``@path`` in the composer, a long paste as
a text attachment, the chips in the composer and in the chat, and what reaches the provider (the
fake server) for both API families. Real engine, real HTTP, files in a tmp folder (the cwd)."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import pytest
from textual import events

from muxtui.ui import persist
from muxtui.ui.at_paths import AtSuggestions
from muxtui.ui.attach_picker import AttachScreen
from muxtui.ui.chat import QueuedItem
from muxtui.ui.composer import Composer
from muxtui.ui.textual_private import notifications
from tests.helpers.app import make_app, screen_text, settle, start, until, use_model, ws_messages
from tests.helpers.home import write_config

SIZE = (100, 30)
CODE = "def area(r):\n    return 3.14159 * r * r\n"


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny) PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the app runs in: a text file, an image, a folder, and a file too big to attach."""
    cwd = tmp_path / "project"
    (cwd / "src").mkdir(parents=True)
    (cwd / "main.py").write_text(CODE, encoding="utf-8")
    (cwd / "shot.png").write_bytes(png_bytes())
    (cwd / "src" / "util.py").write_text("X = 1\n", encoding="utf-8")
    (cwd / "big.log").write_text("log line\n" * 2_000, encoding="utf-8")  # 18 kB: over the test's limit
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture
def config(paths, fake_server):
    """The app profile, an Anthropic provider on the same fake server, and small limits."""
    write_config(paths.config_dir, fake_server, profile="app", extra=f"""
[providers.fakeanth]
type = "anthropic"
base_url = "{fake_server.anthropic_base_url}"
api_key_env = "MUXTUI_TEST_KEY"

[attachments]
max_text_mb = 0.01
paste_lines = 30
""")
    return paths


def last_request(fake_server, model: str) -> dict:
    return [r for r in fake_server.requests if (r["json"] or {}).get("model") == model][-1]["json"]


async def attach_with_picker(pilot, app, typed: str, *, tab: bool = False) -> None:
    await pilot.press("alt+a")
    await until(pilot, lambda: isinstance(app.screen, AttachScreen), "the picker")
    await pilot.press(*typed)
    if tab:
        screen = app.screen
        await until(pilot, lambda: screen.entries and screen.query_one("Input").value == typed, "the completions")
        await pilot.press("tab")
    await pilot.press("enter")


@pytest.mark.parametrize("model", ["fake:vision?text=seen", "fakeanth:vision?text=seen"])
async def test_picker_attaches_an_image_and_a_text_file_that_reach_the_provider(config, files, fake_server, model):
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, model)
        composer = app.query_one(Composer)
        await attach_with_picker(pilot, app, "ma", tab=True)
        await until(pilot, lambda: "main.py" in composer.text, "the chip of main.py")
        await attach_with_picker(pilot, app, "shot.png")
        await until(pilot, lambda: "shot.png" in composer.text, "the chip of shot.png")
        assert composer.text.startswith("⟦📎 main.py · 40 B #")
        assert "⟦📎 shot.png · image · " in composer.text
        await pilot.press(*"what is this?")
        await pilot.press("enter")
        await until(pilot, lambda: ws_messages(app) and ws_messages(app)[-1]["role"] == "assistant", "the reply")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)

        user = ws_messages(app)[-2]
        assert user["content"] == "what is this?"  # the chips left the text: they are its attachments
        assert [(a["name"], a["kind"]) for a in user["attachments"]] == [("main.py", "text"), ("shot.png", "image")]
        sent = json.dumps(last_request(fake_server, model.split(":", 1)[1]))
        assert base64.b64encode(png_bytes()).decode() in sent  # the image part
        assert "main.py" in sent and "```" in sent and "3.14159" in sent  # the fenced text file
        shown = screen_text(app)
        assert "📎 main.py · 40 B" in shown and "📎 shot.png · image ·" in shown  # chips under the message
        assert composer.text == ""


async def test_the_picker_says_why_a_file_is_refused_and_keeps_the_draft(config, files):
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        composer = app.query_one(Composer)
        composer.load_text("half a thought")
        await attach_with_picker(pilot, app, "big.log")
        screen = app.screen
        await until(pilot, lambda: "big.log" in str(screen.query_one("#attach-error").render()), "the error")
        error = str(screen.query_one("#attach-error").render())
        assert "MB" in error or "kB" in error  # the limit, in words
        assert isinstance(app.screen, AttachScreen)  # still open, to pick another file
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AttachScreen), "the picker to close")
        assert composer.text == "half a thought" and not composer.attachments


async def test_at_path_completes_and_is_attached_on_send(config, files, fake_server):
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:atpath?text=ok")
        composer = app.query_one(Composer)
        suggestions = app.query_one(AtSuggestions)
        await pilot.press(*"explain @sr")
        await until(pilot, lambda: suggestions.display, "the suggestions")
        assert "@src/" in str(suggestions.render())
        await pilot.press("tab")  # a folder: the list goes on inside it
        await until(pilot, lambda: composer.text == "explain @src/" and "@src/util.py" in str(suggestions.render()),
                    "the folder's entries")
        await pilot.press("tab")
        await until(pilot, lambda: composer.text == "explain @src/util.py ", "the file")
        assert not suggestions.display
        await pilot.press(*"and @alice's note")
        await pilot.press("enter")
        await until(pilot, lambda: ws_messages(app) and ws_messages(app)[-1]["role"] == "assistant", "the reply")
        await app.engine.manager.wait_idle(ws_id)
        user = ws_messages(app)[-2]
        assert user["content"] == "explain @src/util.py and @alice's note"  # the token stays in the text
        assert [a["name"] for a in user["attachments"]] == ["util.py"]  # @alice is no file: text
        assert "X = 1" in json.dumps(last_request(fake_server, "atpath?text=ok"))
        await settle(app, pilot)
        await pilot.press("ctrl+up", "up", "e")  # edit it: the token stands for the file, no chip
        await until(pilot, lambda: composer.resend_seq is not None, "edit mode")
        assert composer.text == "explain @src/util.py and @alice's note"


async def test_a_long_paste_becomes_a_text_attachment(config, files, fake_server):
    pasted = "".join(f"row {n}: value\n" for n in range(120))
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:paste?text=ok")
        composer = app.query_one(Composer)
        app.post_message(events.Paste(pasted))
        app.post_message(events.Paste("short one"))  # a short paste goes in as text
        await until(pilot, lambda: composer.text.endswith("short one"), "both pastes")
        assert composer.text.startswith("⟦📎 pasted text, 120 lines · ")
        assert composer.document.line_count == 1  # the composer is not flooded
        await until(pilot, lambda: all(a.ref for a in composer.attachments.values()), "the upload")
        await pilot.press("enter")
        await until(pilot, lambda: ws_messages(app) and ws_messages(app)[-1]["role"] == "assistant", "the reply")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        user = ws_messages(app)[-2]
        assert user["content"] == "short one"
        assert user["attachments"][0]["kind"] == "text"
        assert "row 119: value" in json.dumps(last_request(fake_server, "paste?text=ok"))
        assert "📎 pasted text, 120 lines" in screen_text(app)


async def test_deleting_a_chip_drops_the_attachment(config, files):
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        composer = app.query_one(Composer)
        await attach_with_picker(pilot, app, "main.py")
        await until(pilot, lambda: "main.py" in composer.text, "the chip")
        await pilot.press("backspace", "backspace")  # the space after it, then into the chip
        await pilot.press(*"just text", "enter")
        await until(pilot, lambda: ws_messages(app, ws_id), "the send")
        assert "attachments" not in ws_messages(app, ws_id)[0]


async def test_a_draft_keeps_its_attachments_across_switches_and_restarts(config, files):
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        first = await start(app, pilot)
        composer = app.query_one(Composer)
        await attach_with_picker(pilot, app, "main.py")
        await until(pilot, lambda: "main.py" in composer.text, "the chip")
        await pilot.press(*"look")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: app.current_id != first, "the new workspace")
        assert composer.text == ""
        await app.select_workspace(first)
        await pilot.pause()
        assert "⟦📎 main.py" in composer.text and composer.text.endswith("look")
        await app._save_ui_now()
    saved = persist.load(persist.ui_file(config.data_dir))
    assert [r["name"] for r in saved.attachments[first].values()] == ["main.py"]

    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        composer = app.query_one(Composer)
        assert "⟦📎 main.py" in composer.text
        await pilot.press("enter")
        await until(pilot, lambda: ws_messages(app), "the send")
        message = ws_messages(app)[0]
        assert message["content"] == "look" and message["attachments"][0]["name"] == "main.py"


async def test_an_image_refused_by_the_model_keeps_the_draft_and_its_chips(paths, fake_server, files):
    write_config(paths.config_dir, fake_server, profile="app", extra="""
[attachments]
text_only_models = ["fake:*"]
""")
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        composer = app.query_one(Composer)
        await attach_with_picker(pilot, app, "shot.png")
        await until(pilot, lambda: "shot.png" in composer.text, "the chip")
        await pilot.press(*"see", "enter")
        await until(pilot, lambda: any("does not take images" in str(n.message) for n in notifications(app)),
                    "the refusal toast")
        await settle(app, pilot)
        assert not [m for m in ws_messages(app, ws_id) if m["role"] == "user"]
        assert "⟦📎 shot.png" in composer.text and composer.text.endswith("see")
        assert composer.attachments_in(composer.text)[0].ref is not None


async def test_queued_message_shows_its_chips_and_editing_keeps_them(config, files, fake_server):
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:q?chunks=6&pause_after=2&gate=attach-queue")
        composer = app.query_one(Composer)
        await pilot.press(*"first", "enter")
        await fake_server.areached("attach-queue")
        await attach_with_picker(pilot, app, "main.py")
        await until(pilot, lambda: "main.py" in composer.text, "the chip")
        await pilot.press(*"second", "enter")
        await until(pilot, lambda: app.view and app.view.queue, "the queued message")
        await settle(app, pilot)
        assert app.view.queue[0]["attachments"][0]["name"] == "main.py"
        assert "2. second 📎 main.py · 40 B" in screen_text(app).replace("1. second", "2. second", 1) or \
            "second  📎 main.py · 40 B" in screen_text(app)
        item = app.query_one(QueuedItem)
        item.focus()
        await pilot.press("e")
        await until(pilot, lambda: composer.editing is not None, "edit mode")
        assert "⟦📎 main.py" in composer.text
        composer.move_cursor((0, len("second")))
        await pilot.press(*" more", "enter")
        await until(pilot, lambda: composer.editing is None, "the edit saved")
        await settle(app, pilot)
        queued = app.view.queue[0]
        assert queued["text"] == "second more" and queued["attachments"][0]["name"] == "main.py"
        fake_server.release("attach-queue")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        sent = [m for m in ws_messages(app) if m["role"] == "user"][-1]
        assert sent["content"] == "second more" and sent["attachments"][0]["name"] == "main.py"


async def test_stopping_hands_the_queue_back_with_its_chips(config, files, fake_server):
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:h?chunks=6&pause_after=2&gate=attach-handback")
        composer = app.query_one(Composer)
        await pilot.press(*"first", "enter")
        await fake_server.areached("attach-handback")
        await attach_with_picker(pilot, app, "main.py")
        await until(pilot, lambda: "main.py" in composer.text, "the chip")
        await pilot.press(*"queued", "enter")
        await until(pilot, lambda: app.view and app.view.queue, "the queued message")
        await pilot.press("escape")
        await app.engine.manager.wait_idle(ws_id)
        fake_server.release("attach-handback")
        await settle(app, pilot)
        assert composer.text.startswith("queued\n⟦📎 main.py · 40 B #")
        await pilot.press("enter")
        await until(pilot, lambda: len([m for m in ws_messages(app) if m["role"] == "user"]) == 2, "the send")
        sent = [m for m in ws_messages(app) if m["role"] == "user"][-1]
        assert sent["content"] == "queued" and sent["attachments"][0]["name"] == "main.py"


async def test_edit_and_resend_keeps_or_drops_the_attachments(config, files, fake_server):
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:resend?text=ok")
        composer = app.query_one(Composer)
        await attach_with_picker(pilot, app, "main.py")
        await until(pilot, lambda: "main.py" in composer.text, "the chip")
        await pilot.press(*"review", "enter")
        await until(pilot, lambda: len(ws_messages(app)) == 2, "the reply")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        await pilot.press("ctrl+up", "up", "e")  # the user message
        await until(pilot, lambda: composer.resend_seq is not None, "edit mode")
        assert composer.text.startswith("review\n⟦📎 main.py")
        composer.move_cursor((0, len("review")))
        await pilot.press(*" again", "enter")
        await until(pilot, lambda: [m.get("content") for m in ws_messages(app)][-2:-1] == ["review again"],
                    "the resend")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert ws_messages(app)[-2]["attachments"][0]["name"] == "main.py"
        await pilot.press("ctrl+up", "up", "e")
        await until(pilot, lambda: composer.resend_seq is not None, "edit mode")
        composer.load_text("review without it")  # the chip deleted
        await pilot.press("enter")
        await until(pilot, lambda: [m.get("content") for m in ws_messages(app)][-2:-1] == ["review without it"],
                    "the second resend")
        assert "attachments" not in ws_messages(app)[-2]


async def test_a_paste_the_engine_refuses_goes_back_into_the_text(config, files):
    pasted = "".join(f"a longer row of pasted log output, number {n:05d}\n" for n in range(400))  # 20 kB
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        composer = app.query_one(Composer)
        composer.paste_max_bytes = 0  # as if this client's limit were larger than the engine's
        app.post_message(events.Paste(pasted))
        await until(pilot, lambda: "⟦pasted" in composer.text, "the paste back as a large-paste chip")
        assert not composer.attachments and "📎" not in composer.text
        assert composer.draft == pasted
        assert any("the paste stays as text" in str(n.message) for n in notifications(app))


def test_chips_leave_the_text_they_were_typed_in():
    from muxtui.ui.attach_chips import ComposerAttachment, numbers_in, strip

    a = ComposerAttachment.from_ref(1, {"name": "a.py", "kind": "text", "size": 2_140})
    b = ComposerAttachment.from_ref(2, {"name": "shot⟧.png", "kind": "image", "size": 48_213})
    assert a.chip == "⟦📎 a.py · 2.1 KB #1⟧" and b.chip == "⟦📎 shot].png · image · 48.2 KB #2⟧"
    assert numbers_in(f"{a.chip} x {b.chip} {a.chip}") == [1, 2]
    assert strip(f"{a.chip} {b.chip} \nwhat is this?") == "what is this?"
    assert strip(f"see {a.chip} here") == "see here"
    assert strip(f"    indented code\n{a.chip}") == "    indented code"
    assert strip("no chips  here") == "no chips  here"


async def test_the_attach_key_is_rebindable(paths, fake_server, files):
    write_config(paths.config_dir, fake_server, profile="app", extra='[keys]\nattach = "ctrl+l"\n')
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, AttachScreen), "the picker on ctrl+l")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, AttachScreen), "the picker to close")
        help_rows = [row for _, rows in app.help_sections() for row in rows if row.binding_id == "attach"]
        assert help_rows and help_rows[0].keys == "ctrl+l"


async def test_enter_on_an_empty_folder_says_it_is_a_folder(config, files):
    """An empty folder typed in the picker is named a folder, not "no such file"."""
    (files / "empty").mkdir()
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await attach_with_picker(pilot, app, "empty/")
        screen = app.screen
        await until(pilot, lambda: "empty/" in str(screen.query_one("#attach-error").render()), "the error")
        error = str(screen.query_one("#attach-error").render())
        assert "folder" in error and "no such file" not in error
        assert isinstance(app.screen, AttachScreen)


async def test_editing_keys_in_the_path_field_apply_in_order_in_a_burst(config, files):
    """ctrl+u then a path, in one read (tmux send-keys), left "py": the binding ran late."""
    app = make_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("alt+a")
        await until(pilot, lambda: isinstance(app.screen, AttachScreen), "the picker")
        field = app.screen.query_one("#attach-path")
        await pilot.press(*"big.log")
        for key in ["ctrl+u", *"main.pz", "backspace", "y"]:  # all queued at once
            app.post_message(events.Key(key, key if len(key) == 1 else None))
        await until(pilot, lambda: field.value.endswith("y"), "the burst typed")
        await settle(app, pilot)
        assert field.value == "main.py"
