"""`[ui] cursor_blink = false` in config.toml: a steady composer cursor, so an idle app writes
nothing to the terminal (the blink repaints the cursor's line twice a second)."""

from __future__ import annotations

import pytest

from muxtui import config as config_mod
from muxtui.config import ConfigError
from muxtui.ui.textual_private import timer_running
from tests.helpers.app import make_app
from tests.helpers.home import write_config
from tests.ui.test_flows import SIZE, start


def test_cursor_blink_defaults_on_and_reads_false(tmp_path):
    path = tmp_path / "config.toml"
    assert config_mod.load(path).ui.cursor_blink is True
    path.write_text("[ui]\ncursor_blink = false\n")
    assert config_mod.load(path).ui.cursor_blink is False


@pytest.mark.parametrize("text,message", [
    ('[ui]\ncursor_blink = "no"\n', "expected bool"),
    ("[ui]\nblink = false\n", "unknown setting (known: cursor_blink)"),
])
def test_a_bad_ui_setting_names_its_key(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path)
    assert message in str(caught.value) and "ui." in str(caught.value) and "line 2" in str(caught.value)


@pytest.mark.parametrize("blink", [True, False])
async def test_the_composer_follows_the_setting(paths, home, fake_server, blink):
    write_config(home, fake_server, profile="app", extra=f"\n[ui]\ncursor_blink = {str(blink).lower()}\n")
    app = make_app(paths, animate=True)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        composer = app.composer
        assert app.focused is composer
        assert composer.cursor_blink is blink
        assert timer_running(composer.blink_timer) is blink
