"""`muxtui serve` in a real headless Chromium: load the page with the token, send a message,
watch the reply stream into the page's terminal; without the token the page is a 403."""

from __future__ import annotations

import asyncio
import time
import pytest

from tests.helpers.home import TEST_KEY
from tests.serve.cdp import Browser, find_chromium

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get install chromium)")

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
REPLY = " ".join(WORDS)
# 4 characters a chunk, 150 ms apart: about 2.5 s of streaming, so the page is seen mid-reply.
# Every character %-escaped: the model name is on screen too, and must not hold the words.
MODEL = "fake:m?text=" + "".join(f"%{b:02X}" for b in REPLY.encode()) + "&delay_ms=150"


async def _until(predicate, what: str, timeout: float = 60, every: float = 0.05):
    """Poll the page until ``predicate`` returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def test_a_message_streams_into_the_browser_and_no_token_is_403(serve_home, start_serve):
    config = serve_home.config_file
    config.write_text(config.read_text().replace('default_model = "fake:plain"', f'default_model = "{MODEL}"'))
    server = start_serve(serve_home.config_dir, "--port", "0")
    url = await asyncio.to_thread(server.wait_url)
    started = time.monotonic()
    async with Browser(CHROMIUM) as page:
        response = await page.navigate(url)
        assert response["status"] == 200
        assert response["headers"].get("Referrer-Policy") == "no-referrer"

        async def composer_ready():
            text = await page.screen_text()
            return text if text and "enter send" in text else None

        await _until(composer_ready, "the app's composer in the page")
        await page.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        await page.type_text("hello from chromium")

        async def typed():
            text = await page.screen_text()
            return text if text and "hello from chromium" in text else None

        await _until(typed, "the typed message in the composer")
        await page.press_enter()

        partial_seen = []

        async def reply_done():
            text = await page.screen_text() or ""
            present = [w for w in WORDS if w in text]
            if present and len(present) < len(WORDS):
                partial_seen.append(present)
            return text if len(present) == len(WORDS) else None

        screen = await _until(reply_done, "the whole reply on the page")
        assert "hello from chromium" in screen
        assert TEST_KEY not in screen
        # It streamed: the page showed the reply part-way before it showed all of it.
        assert partial_seen, "the reply appeared all at once"
        assert len(server.children()) == 1  # one app process for the one browser tab

        base = url.split("?", 1)[0]
        for bad in (base, f"{base}?token=wrong"):
            refused = await page.navigate(bad)
            assert refused["status"] == 403
            body = await page.evaluate("document.body.innerText")
            assert "needs the token" in body
            assert server.token not in body

        # Leaving the page ended its app; the 403 pages started none.
        await _until(lambda: asyncio.to_thread(lambda: not server.children()), "the app to quit")
    elapsed = time.monotonic() - started
    assert server.stop() == 0
    print(f"browser flow took {elapsed:.1f}s")
    # The reply was saved by the app that ran in the browser tab.
    history = (serve_home.data_dir / "workspaces")
    assert any(REPLY in p.read_text() for p in history.rglob("*.jsonl")), "reply not saved to history"
