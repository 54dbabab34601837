"""Memory over a long session stays flat: many replies in one workspace keep a bounded number of
message widgets mounted, and the ones scrolled far out of view do not keep the lines they painted
(ui/chat.ChatView._release_offscreen); scrolling back paints them again.

Textual keeps every line a widget has painted (a Strip, with seven caches of its own) until the
widget is refreshed: before the release, each reply mounted added all its painted lines for as
long as it stayed mounted (the soak bench: +100 MB over 300 replies). These tests count
objects, never time.
"""

from __future__ import annotations

import gc

from textual.strip import Strip

from muxtui.ui.chat import MAX_MOUNTED
from muxtui.ui.messages import AssistantMessage, SummaryMessage, UserMessage
from tests.helpers.app import make_app, screen_text, settle
from tests.ui.test_flows import SIZE, send, start, until, use_model

# A reply of a few dozen lines of mixed Markdown (paragraphs, lists, code): taller than the screen.
REPLY_MODEL = "fake:m?chunks=120&seed=3"


def strips_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Strip)


def mounted_messages(app) -> int:
    return len(app.chat.query(UserMessage)) + len(app.chat.query(AssistantMessage)) + len(
        app.chat.query(SummaryMessage))


async def test_painted_lines_and_mounted_messages_stay_bounded_over_replies(paths):
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        ws_id = await start(app, pilot)
        await use_model(app, pilot, REPLY_MODEL)
        counts: dict[int, int] = {}
        for n in range(1, 25):
            await send(pilot, app, f"question {n}")
            await app.engine.manager.wait_idle(ws_id)
            await settle(app, pilot)
            await until(pilot, lambda: app.chat.live is None, "the reply closed on screen")
            if n in (8, 24):
                await settle(app, pilot)
                counts[n] = strips_alive()
            assert mounted_messages(app) <= MAX_MOUNTED + 1
        # Each reply is ~40 lines, painted by three nested widgets, each line with strips
        # derived from it: ~300 strips a reply kept while mounted without the release (16
        # replies: ~5,000). With it, only the messages near the view keep theirs.
        grown = counts[24] - counts[8]
        assert grown < 1500, f"strips alive grew by {grown} from reply 8 to 24 ({counts})"
        # Released messages paint again when scrolled back into view.
        first = app.chat.query(UserMessage).first()
        app.chat.release_anchor()
        app.chat.scroll_to_widget(first, animate=False, top=True, immediate=True)
        await settle(app, pilot)
        shown = first.message_id
        text = next(m["content"] for m in app.view.messages if m.get("id") == shown)
        await until(pilot, lambda: text in screen_text(app), "the earliest mounted message on screen again")
