"""An API key a server echoes inside a reply body is shown as [redacted] on the app's screen,
while streaming and after, and is never written to disk (issue 10, part 3)."""

from __future__ import annotations

from tests.helpers.app import SIZE, make_app, screen_text, send, settle, start, use_model, ws_messages
from tests.helpers.home import TEST_KEY


async def test_key_echoed_in_a_reply_is_redacted_on_screen_and_disk(paths, fake_server):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        # The echoed key arrives cut into 5-character chunks.
        await use_model(app, pilot, "fake:m?text=Hello.&echo_key=1")
        await send(pilot, app, "hi")
        await app.engine.manager.wait_idle(ws_id)
        await settle(app, pilot)
        assert TEST_KEY in fake_server.sent_text(len(fake_server.requests) - 1)
        text = screen_text(app)
        assert "Your key is [redacted] (echoed)." in text
        assert TEST_KEY not in text and TEST_KEY[:12] not in text
        assert ws_messages(app)[-1]["content"] == "Hello.\n\nYour key is [redacted] (echoed)."
    for path in paths.config_dir.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), path
