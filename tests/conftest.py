"""Fixtures for every layer: the session's fake server and a temp MUXTUI_HOME on it.

Layers add their own (tests/ui: the "app" config profile; tests/host: engine processes); the
plain helpers they share are in tests/helpers.
"""

from __future__ import annotations

import pytest

from muxtui.paths import Paths
from muxtui.testing.fakeserver import FakeServer
from tests.helpers.home import temp_home


@pytest.fixture(scope="session")
def fake_server():
    """One fake OpenAI/Anthropic server for the whole session (scenario = model name)."""
    server = FakeServer().start()
    yield server
    server.stop()
    assert server.errors == [], server.errors  # bugs inside the fake server itself


@pytest.fixture
def home(tmp_path, fake_server, monkeypatch) -> Paths:
    """A temp MUXTUI_HOME (the "engine" config profile) that this process's environment points at."""
    return temp_home(tmp_path / "home", fake_server, monkeypatch)


def pytest_runtest_logreport(report):
    from tests import results

    results.on_report(report)


def pytest_terminal_summary(terminalreporter):
    from tests import results

    results.print_table(terminalreporter.write_line)
