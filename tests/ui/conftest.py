"""UI fixtures: a temp MUXTUI_HOME per test (the "app" config profile) on the session's fake
server. Nothing here touches the real user's folders: HOME, MUXTUI_HOME and the XDG variables
all point into the test's tmp_path. The pilot helpers are in tests.helpers.app."""

from __future__ import annotations

import time
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


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch):
    """Local time is UTC (dates on screen and in exports are the same on every machine)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
