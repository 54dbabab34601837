"""Replies lost, in the app (issue 10, part 2): pilot flows against the real fake server.

Before the fix a reply with a surrogate never completed (spinner forever, Esc dead, the next
message stuck the same way, tracebacks on quit, nothing saved); on a full disk the badge said
"kept in memory" but the text was never written, even after space returned and a clean quit.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from muxtui.engine import atomic
from muxtui.ui.screens import ConfirmScreen
from tests.helpers.app import SIZE, make_app, screen_text, send, settle, start, until, use_model, ws_messages
from tests.helpers.home import disk_history
from tests.ui.conftest import home, paths  # noqa: F401  (fixtures)


def muxtui_errors(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records
            if r.levelno >= logging.ERROR and r.name.startswith("muxtui")]


async def test_surrogate_replies_complete_esc_stops_next_message_works(paths, fake_server, caplog):
    caplog.set_level(logging.ERROR)
    gate = f"sga{uuid.uuid4().hex[:8]}"
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        # 1. An emoji split across two chunks: the reply completes, joined.
        await use_model(app, pilot, "fake:m?surrogate=split&delay_ms=5")
        await send(pilot, app, "hi")
        await asyncio.wait_for(app.engine.manager.wait_idle(ws_id), 15)
        await settle(app, pilot)
        last = ws_messages(app)[-1]
        assert last["status"] == "complete" and last["content"] == "Smile \U0001f600 done"
        assert "done" in screen_text(app)
        assert not app.tracker.get(ws_id).streaming
        # 2. Esc while the high half is held back: it stops.
        await use_model(app, pilot, f"fake:m?surrogate=split&pause_after=2&gate={gate}")
        await send(pilot, app, "again")
        await fake_server.areached(gate)
        await until(pilot, lambda: app.chat.live is not None and "Smile" in app.chat.live.body.text, "live text")
        assert app.tracker.get(ws_id).streaming
        await pilot.press("escape")
        await asyncio.wait_for(app.engine.manager.wait_idle(ws_id), 15)
        fake_server.release(gate)
        await settle(app, pilot)
        assert ws_messages(app)[-1]["status"] == "interrupted"
        assert not app.tracker.get(ws_id).streaming
        # 3. The next message works: a lone surrogate becomes U+FFFD.
        await use_model(app, pilot, "fake:m?surrogate=lone&delay_ms=5")
        await send(pilot, app, "third")
        await asyncio.wait_for(app.engine.manager.wait_idle(ws_id), 15)
        await settle(app, pilot)
        assert ws_messages(app)[-1]["content"] == "bad \ufffd byte, then done"
        assert "byte, then done" in screen_text(app)
        await pilot.press("ctrl+q")
    statuses = [(m["role"], m.get("status")) for m in disk_history(paths, ws_id)]
    assert statuses == [("user", None), ("assistant", "complete"), ("user", None), ("assistant", "interrupted"),
                        ("user", None), ("assistant", "complete")]
    assert muxtui_errors(caplog) == []  # no traceback on quit (or anywhere)


async def test_disk_full_reply_is_written_when_space_returns_and_quit_asks_meanwhile(paths, fake_server, caplog):
    caplog.set_level(logging.ERROR)
    app = make_app(paths)
    try:
        async with app.run_test(size=SIZE) as pilot:
            ws_id = await start(app, pilot)
            await use_model(app, pilot, "fake:m?chunks=30")
            atomic.FAULTS.arm("append", skip=1)  # the user message fits, the reply does not
            atomic.FAULTS.arm("log")
            await send(pilot, app, "hello")
            await asyncio.wait_for(app.engine.manager.wait_idle(ws_id), 15)
            await settle(app, pilot)
            last = ws_messages(app)[-1]
            assert last.get("unsaved") and last["error_type"] == "write_failed"
            assert "not saved to disk" in screen_text(app)
            assert app.tracker.get(ws_id).error_type == "write_failed"
            # Quit while it is unsaved: muxtui waits a moment, then asks.
            await pilot.press("ctrl+q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the quit question")
            assert "not saved yet" in screen_text(app)
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the question closed")
            assert app.is_running
            # Space returns; the user does nothing: the reply is written, the badge clears.
            atomic.FAULTS.disarm()
            await until(pilot, lambda: not app.engine.manager.has_unsaved(), "the late save")
            await settle(app, pilot)
            assert "not saved to disk" not in screen_text(app)
            assert app.tracker.get(ws_id).error_type is None
            assert ws_messages(app)[-1]["status"] == "complete" and "seq" in ws_messages(app)[-1]
            await pilot.press("ctrl+q")  # nothing unsaved: no question
    finally:
        atomic.FAULTS.disarm()
    on_disk = disk_history(paths, ws_id)
    assert [m["role"] for m in on_disk] == ["user", "assistant"] and on_disk[-1]["status"] == "complete"
    assert on_disk[-1]["content"] == last["content"]
    assert muxtui_errors(caplog) == []
