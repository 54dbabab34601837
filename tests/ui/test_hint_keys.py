"""Key names in hints come from the user's keymap, not from strings in the engine: with retry
bound to f9, a failed reply says "f9 to retry" (the engine's hint names the binding id)."""

from __future__ import annotations

from muxtui.client import HINTS, ErrorType
from muxtui.ui.messages import error_hint
from tests.helpers.app import make_app, screen_text, settle
from tests.helpers.home import write_config


def test_engine_hints_name_binding_ids_not_keys():
    for hint in HINTS.values():
        assert "ctrl+" not in hint, hint  # a key would be wrong for a user who rebound it
    assert error_hint(str(ErrorType.SERVER_ERROR)) == "the provider failed: ctrl+r to retry"
    assert error_hint("server_error", lambda binding_id, default: {"retry": "f9"}.get(binding_id, default)) \
        == "the provider failed: f9 to retry"


async def test_a_failed_reply_names_the_users_retry_key(home, fake_server, paths):
    write_config(home, fake_server, profile="app", extra='[keys]\nretry = "f9"\n')
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.started.wait()
        ws_id = app.current_id
        await app.engine.set_model(ws_id, "fake:m?status=500")
        await app.engine.send(ws_id, "hello")
        await app.engine.wait_idle(ws_id)
        await settle(app, pilot)
        text = screen_text(app)
        assert "f9 to retry" in text and "ctrl+r to retry" not in text


async def test_a_reply_cut_short_says_its_keys_once(home, fake_server, paths):
    """A dropped connection after some text: one hint line with what happened and what ctrl+g and
    ctrl+r do, not "ctrl+r to retry" and then "ctrl+r regenerates it" on the next line."""
    write_config(home, fake_server, profile="app")
    app = make_app(paths)
    async with app.run_test(size=(120, 30)) as pilot:
        await app.started.wait()
        ws_id = app.current_id
        await app.engine.set_model(ws_id, "fake:m?chunks=6&fault=drop&after=3")
        await app.engine.send(ws_id, "hello")
        await app.engine.wait_idle(ws_id)
        await settle(app, pilot)
        text = screen_text(app)
        assert "the connection closed mid-reply — ctrl+g continues it, ctrl+r regenerates it" in text, text
        assert "to retry" not in text
