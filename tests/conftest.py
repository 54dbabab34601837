from __future__ import annotations

import pytest

from muxtui.testing.fakeserver import FakeServer


@pytest.fixture(scope="session")
def fake_server():
    """One fake OpenAI/Anthropic server for the whole session (scenario = model name)."""
    server = FakeServer().start()
    yield server
    server.stop()
    assert server.errors == [], server.errors  # bugs inside the fake server itself


def pytest_runtest_logreport(report):
    from tests import results

    results.on_report(report)


def pytest_terminal_summary(terminalreporter):
    from tests import results

    results.print_table(terminalreporter.write_line)
