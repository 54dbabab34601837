"""A refused [keys] binding is reported at start-up and has no effect; the checker agrees with
Textual's own key names."""

from __future__ import annotations

import pytest
from textual.keys import Keys

from muxtui.config import check_key
from muxtui.ui.textual_private import app_keymap, character_to_key, notifications
from tests.helpers.app import SIZE, make_app, send, start, ws_messages


async def test_quit_on_enter_is_refused_and_enter_still_sends(paths, home):
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace('default_model = "fake:plain"',
                                           'default_model = "fake:plain"\n[keys]\nquit = "enter"\nnew-workspace = "f6"', 1))
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        refused = [n for n in notifications(app) if n.title == "key binding refused"]
        assert len(refused) == 1 and "keys.quit" in str(refused[0].message)
        assert refused[0].severity == "error"
        await send(pilot, app, "still sends")  # was: enter quit the app
        await app.engine.manager.wait_idle(ws_id)
        assert app.is_running
        assert ws_messages(app)[0]["content"] == "still sends"
        assert app_keymap(app).get("new-workspace") == "f6"  # the good binding is applied


@pytest.mark.parametrize("key", sorted({k.value for k in Keys if not k.value.startswith("<")}))
def test_every_textual_key_name_is_accepted_or_refused_for_a_reason(key):
    written, name = check_key(key)
    if written is None:
        assert key.startswith("ctrl+shift+") and key[-1].isalpha() or key == "ctrl-at", (key, name)
    else:
        assert written == key, (key, written)


@pytest.mark.parametrize("char", list("abcXYZ019?!@#$%^&*()-_=+[]{};:'\",.<>/\\|`~"))
def test_character_names_match_textual(char):
    written, name = check_key(char)
    assert written is not None
    assert name == (character_to_key(char) if not char.isupper() else char)
