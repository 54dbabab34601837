"""Start-up pays the HTTP client's one-time costs (SSL context, first-use imports) in a thread
after the first frame, so the first Enter does not (performance issue, time to first token)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from muxtui.engine.providers import http
from tests.helpers.app import make_app


def watch_warm(monkeypatch) -> threading.Event:
    """Set once the app's start-up warm-up has run (to its end)."""
    done = threading.Event()
    original = http.warm

    def warm() -> None:
        original()
        done.set()

    monkeypatch.setattr(http, "warm", warm)
    monkeypatch.setattr(http, "_ssl_context", None)  # as in a fresh process
    return done


@pytest.mark.asyncio
async def test_start_up_builds_the_shared_ssl_context(paths, monkeypatch):
    done = watch_warm(monkeypatch)
    app = make_app(paths)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.started.wait()
        await pilot.pause()
        assert await asyncio.to_thread(done.wait, 30), "no warm-up after start-up"
        assert http._ssl_context is not None
        # The first stream's client is now built at once, on the shared context.
        provider, _model = app.engine.manager._attempts._provider_for("fake:plain")
        await provider.prepare()
        assert provider._client is not None
        assert provider.client._transport._pool._ssl_context is http._ssl_context


@pytest.mark.asyncio
async def test_no_warm_up_when_only_the_offline_demo_is_usable(paths, home, monkeypatch):
    # No config of one's own and no API key: the built-in openai/anthropic entries cannot be used.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    done = watch_warm(monkeypatch)
    (home / "config.toml").write_text('default_model = "demo:echo"\n[providers.demo]\ntype = "demo"\n',
                                      encoding="utf-8")
    app = make_app(paths)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.started.wait()
        await pilot.pause()
        await pilot.pause()
        assert not done.is_set()
        assert http._ssl_context is None
