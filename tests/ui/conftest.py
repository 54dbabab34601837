"""UI fixtures: a temp MUXTUI_HOME per test, its config pointing at the session's fake server.

Nothing here touches the real user's folders: HOME, MUXTUI_HOME and the XDG variables all
point into the test's tmp_path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from muxtui import config as config_mod
from muxtui.paths import Paths
from muxtui.ui.textual_private import screen_strips

TEST_KEY = "sk-test-muxtui-ui-0123456789"
FIXED_NOW = 1_767_225_600.0  # 2026-01-01 00:00 UTC: snapshots never see the real clock


def write_config(home: Path, base_url: str, extra_top: str = "", extra: str = "") -> Path:
    path = home / "config.toml"
    path.write_text(
        f"""{extra_top}
default_model = "fake:plain"

[providers.fake]
type = "openai"
base_url = "{base_url}"
api_key_env = "MUXTUI_TEST_KEY"
models = ["plain", "plain?chunks=5"]

[providers.demo]
type = "demo"
chars_per_second = 0

[stream]
partial_interval_ms = 50
connect_timeout = 3
read_timeout = 30
total_timeout = 30
retry_attempts = 1
retry_base_delay = 0.01
retry_max_delay = 0.05
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server) -> Path:
    root = tmp_path / "muxhome"
    root.mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MUXTUI_HOME", str(root))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.setenv("MUXTUI_TEST_KEY", TEST_KEY)
    write_config(root, fake_server.openai_base_url)
    return root


@pytest.fixture
def paths(home: Path) -> Paths:
    p = Paths.under(home)
    p.ensure()
    return p


def make_app(paths: Paths, *, clock=lambda: FIXED_NOW, animate: bool = False):
    from muxtui.ui.app import MuxApp

    return MuxApp(paths, config_mod.load_or_default(paths.config_file), clock=clock, animate=animate)


def screen_text(app) -> str:
    """What the terminal shows right now, as plain text."""
    return "\n".join(strip.text for strip in screen_strips(app.screen))


async def settle(app, pilot) -> None:
    """Every engine event applied to the screen, and the screen refreshed."""
    await app.drain()
    await pilot.pause()
