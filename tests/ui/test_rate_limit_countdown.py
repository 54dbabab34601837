"""A workspace rate limited with a long Retry-After shows a countdown (sidebar badge and title),
driven by one 1 s timer that runs only while a countdown does. The clock is faked."""

from __future__ import annotations

import time

from muxtui.ui.textual_private import timer_running
from tests.helpers.app import SIZE, make_app, screen_text, send, settle, start, until, use_model


async def test_rate_limited_workspace_counts_down_to_its_retry(paths):
    now = [time.time()]
    app = make_app(paths, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        timer = app._retry_timer
        assert not timer_running(timer)  # nothing to count down: no ticking at all
        await use_model(app, pilot, "fake:rl?status=429&retry_after=3600")
        await send(pilot, app, "hello")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        reply = app.engine.manager.workspace(ws_id).messages[-1]
        assert reply["error_type"] == "rate_limit"
        retry_at = reply["retry_at"]

        now[0] = retry_at - 125.5
        await until(pilot, lambda: "✗ rate_limit 2:06" in screen_text(app), "the countdown badge", timeout=10)
        assert timer_running(timer)
        assert "retry in 2:06" in app.sub_title
        assert "the provider asks to wait until" in screen_text(app)
        now[0] += 60
        await until(pilot, lambda: "✗ rate_limit 1:06" in screen_text(app), "the badge a minute later", timeout=10)
        assert "retry in 1:06" in app.sub_title

        now[0] = retry_at + 1  # the wait is over: the error stays, the countdown and its timer stop
        await until(pilot, lambda: app.tracker.get(ws_id).retry_at is None, "the end of the countdown", timeout=10)
        await pilot.pause()
        assert not timer_running(timer)
        text = screen_text(app)
        assert "✗ rate_limit" in text and "rate_limit 0:" not in text
        assert "retry in" not in app.sub_title


async def test_countdown_comes_back_after_a_restart(paths):
    now = [time.time()]
    app = make_app(paths, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, "fake:rl2?status=429&retry_after=7200")
        await send(pilot, app, "hello")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        retry_at = app.engine.manager.workspace(ws_id).messages[-1]["retry_at"]
    now[0] = retry_at - 3600
    app = make_app(paths, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await until(pilot, lambda: "✗ rate_limit 1:00:00" in screen_text(app), "the badge after a restart",
                    timeout=10)
