"""UI fixtures: a temp MUXTUI_HOME per test (the "app" config profile) on the session's fake
server. Nothing here touches the real user's folders: HOME, MUXTUI_HOME and the XDG variables
all point into the test's tmp_path. The pilot helpers are in tests.helpers.app."""

from __future__ import annotations

from pathlib import Path

import pytest

from muxtui.paths import Paths
from tests.helpers.home import temp_home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server) -> Path:
    return temp_home(tmp_path / "muxhome", fake_server, monkeypatch, profile="app").config_dir


@pytest.fixture
def paths(home: Path) -> Paths:
    return Paths.under(home)
