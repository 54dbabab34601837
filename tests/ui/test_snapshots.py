"""SVG snapshots of the main screens (pytest-textual-snapshot).

Deterministic by construction: a fixed clock, animate=False (spinners frozen on their first
frame, no cursor blink), TZ=UTC, and histories written with fixed timestamps. Review the report
(snapshot_report.html) before ever running --snapshot-update.
"""

from __future__ import annotations

import json

import pytest
from textual.widgets import Collapsible, Input

from muxtui.engine.storage import Storage
from muxtui.ui.chat import QueuedItem
from tests.helpers.app import FIXED_NOW, make_app

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.usefixtures("utc")]


def seed(paths, name: str, model: str, messages: list[dict] = (), partial: dict | None = None) -> str:
    storage = Storage(paths.data_dir)
    info = storage.create_workspace(name, model)
    store = storage.store(info.id)
    for n, m in enumerate(messages):
        store.append({"id": f"{info.id}-{n}", "created_at": FIXED_NOW - 3600 + n, **m})
    if partial is not None:
        store.write_partial(partial)
    return info.id


def select_last(paths, ws_id: str) -> None:
    (paths.data_dir / "ui.json").write_text(json.dumps({"version": 1, "last_workspace": ws_id}))


async def started(pilot) -> None:
    await pilot.app.started.wait()
    await pilot.app.drain()
    await pilot.pause()


COMPLETE_REPLY = """Backpressure is how a **slow consumer** tells a fast producer to wait: a bounded
queue between them fills up, and `put()` blocks until there is room.

| part | job |
|---|---|
| producer | `await queue.put(item)` |
| consumer | `await queue.get()` |
"""

PARTIAL_REPLY = """Sure, here is a small example:

```python
async def produce(queue):
    for item in range(100):
        await queue.put(item)"""


def conversation() -> list[dict]:
    return [
        {"role": "user", "content": "Explain backpressure in one paragraph."},
        {"role": "assistant", "content": COMPLETE_REPLY, "model": "fake:thinker", "status": "complete",
         "reasoning": "The user wants a short definition. Mention bounded queues and blocking puts.",
         "usage": {"input_tokens": 14, "output_tokens": 71}},
        {"role": "user", "content": "And with a code example? [/INST] stays literal"},
        {"role": "assistant", "content": PARTIAL_REPLY, "model": "fake:thinker", "status": "interrupted"},
        {"role": "user", "content": "try again"},
        {"role": "assistant", "content": "", "model": "fake:thinker", "status": "error",
         "error_type": "rate_limit", "error": "HTTP 429: Rate limit reached for requests (request req_abc123)"},
    ]


def test_first_run_on_the_demo_model(snap_compare, paths, home):
    """You should see the first run: one workspace "scratch" on muxtui-demo in the sidebar, the
    chat scrolled to the top showing "you / hello muxtui" and the start of the demo model's
    complete reply (greeting, the quoted message, the start of the tour), and an empty composer."""
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace('default_model = "fake:plain"', 'default_model = "demo:muxtui-demo"'))

    async def run_before(pilot):
        app = pilot.app
        await started(pilot)
        app.composer.load_text("hello muxtui")
        await pilot.press("enter")
        while not app.engine.manager.workspace(app.current_id).messages:
            await pilot.pause()
        await app.engine.manager.wait_idle(app.current_id)
        await app.drain()
        await pilot.pause()
        app.chat.scroll_home(animate=False, immediate=True)
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(100, 36), run_before=run_before)


def test_sidebar_badges(snap_compare, paths, fake_server):
    """You should see eight workspaces in the sidebar, in creation order: 1 idle; 2 streaming
    (spinner); 3 streaming with "+2 queued"; 4 a red "✗ rate_limit" error; 5 "↻ resumable";
    6 "↻ recovered" (a crash partial recovered at start-up); 7 an unread dot (a reply finished
    in the background); 8 the current one, highlighted. The chat shows workspace 8's messages."""
    seed(paths, "idle", "fake:plain", [{"role": "user", "content": "hi"},
                                        {"role": "assistant", "content": "hello", "model": "fake:plain",
                                         "status": "complete"}])
    streaming = seed(paths, "streaming", "fake:s?chunks=9&pause_after=2&gate=snap-badge-1")
    queued = seed(paths, "queued", "fake:q?chunks=9&pause_after=2&gate=snap-badge-2")
    seed(paths, "failed", "openai:gpt-4o", conversation()[:2] + [
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "", "model": "openai:gpt-4o", "status": "error",
         "error_type": "rate_limit", "error": "slow down"}])
    seed(paths, "cut short", "anthropic:claude-sonnet-4-5", conversation()[:4])
    seed(paths, "crashed", "fake:plain", [{"role": "user", "content": "long question"}],
         partial={"request_id": "r1", "message_id": "m-crash", "model": "fake:plain", "content": "half",
                  "created_at": FIXED_NOW, "status": "streaming"})
    unread = seed(paths, "background", "fake:bg?text=done")
    current = seed(paths, "a rather long workspace name that does not fit", "demo:muxtui-thinking",
                   conversation()[:2])
    select_last(paths, current)

    async def run_before(pilot):
        app = pilot.app
        await started(pilot)
        m = app.engine.manager
        await m.send(streaming, "go")
        await m.send(queued, "go")
        await fake_server.areached("snap-badge-1")
        await fake_server.areached("snap-badge-2")
        await m.send(queued, "one more thing")
        await m.send(queued, "and another")
        await m.send(unread, "ping")
        await m.wait_idle(unread)
        while not app.tracker.get(app.tracker.ids()[5]).recovered:
            await pilot.pause()
        await app.drain()
        await pilot.pause()

    try:
        assert snap_compare(make_app(paths), terminal_size=(100, 30), run_before=run_before)
    finally:
        fake_server.release("snap-badge-1")
        fake_server.release("snap-badge-2")


def test_chat_complete_interrupted_error_and_reasoning(snap_compare, paths):
    """You should see a conversation: a complete reply with its reasoning block expanded
    (italic, muted), a Markdown table and "14 in · 71 out tokens"; a user message with a
    literal "[/INST]"; an interrupted reply (yellow edge, "↻ interrupted — ctrl+r regenerates it")
    ending in an open code fence; and a failed reply (red edge) with "✗ rate_limit: HTTP 429..."
    and the hint "rate limited: ctrl+r to retry later"."""
    seed(paths, "chat", "fake:thinker", conversation())

    async def run_before(pilot):
        app = pilot.app
        await started(pilot)
        app.query(Collapsible).first().collapsed = False
        await pilot.pause()
        app.chat.scroll_home(animate=False, immediate=True)
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(100, 50), run_before=run_before)


def test_queued_messages_under_a_streaming_reply(snap_compare, paths, fake_server):
    """You should see a reply streaming (its model line says "streaming", the sidebar spinner)
    and under it a dashed "queued" box with "1. can you also cover retries?" and "2. and keep
    it short"; the sidebar row says "+2 queued"; the title says "streaming · 2 queued"."""
    ws = seed(paths, "queue demo", "fake:m?text=Streaming_part_of_the_reply...&pause_after=4&gate=snap-queue")

    async def run_before(pilot):
        app = pilot.app
        await started(pilot)
        await app.engine.manager.send(ws, "explain the queue")
        await fake_server.areached("snap-queue")
        await app.engine.manager.send(ws, "can you also cover retries?")
        await app.engine.manager.send(ws, "and keep it short")
        while len(app.query(QueuedItem)) < 2 or not (app.chat.live and app.chat.live.body.text):
            await pilot.pause()
        await app.drain()
        await pilot.pause()

    try:
        assert snap_compare(make_app(paths), terminal_size=(100, 30), run_before=run_before)
    finally:
        fake_server.release("snap-queue")


def test_errors_view(snap_compare, paths):
    """You should see the errors view over the app: "errors · 4 in 2 groups"; the newest group
    "1× premature_close/stream_truncated/anthropic" and then "3× upstream_error/rate_limit/openai",
    each with last/first seen times (UTC, "ago" from the fixed clock), a details line (request,
    workspace name, model, close kind, status, bytes, duration) and the error text in red."""
    ws = seed(paths, "research", "openai:gpt-4o")
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    records = []
    for n in range(3):
        records.append({"ts": FIXED_NOW - 7200 + n * 600, "request_id": f"r-rate-{n}",
                        "upstream_request_id": f"req_{n}abc", "workspace": ws, "model": "openai:gpt-4o",
                        "provider": "openai", "close_kind": "upstream_error", "error_type": "rate_limit",
                        "error": "HTTP 429: Rate limit reached", "bytes": 0, "upstream_status": 429,
                        "duration": 0.31, "attempt": 3, "signature": "upstream_error/rate_limit/openai"})
    records.append({"ts": FIXED_NOW - 90, "request_id": "r-trunc", "workspace": "w-gone",
                    "model": "anthropic:claude-sonnet-4-5", "provider": "anthropic",
                    "close_kind": "premature_close", "error_type": "stream_truncated",
                    "error": "the stream ended before the provider's end marker", "bytes": 5120,
                    "upstream_status": 200, "duration": 12.5, "attempt": 1,
                    "signature": "premature_close/stream_truncated/anthropic"})
    (paths.log_dir / "errors.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    async def run_before(pilot):
        await started(pilot)
        await pilot.press("ctrl+e")
        while pilot.app.screen.__class__.__name__ != "ErrorsScreen":
            await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(110, 34), run_before=run_before)


def test_command_palette(snap_compare, paths):
    """You should see the command palette open over the app, listing muxtui's commands (New
    workspace, Rename workspace, Delete workspace, Interrupt, Retry / resume, Pick model, ...) each
    with its help and key."""
    seed(paths, "scratch", "fake:plain")

    async def run_before(pilot):
        await started(pilot)
        await pilot.press("ctrl+p")
        while pilot.app.screen.__class__.__name__ != "CommandPalette":
            await pilot.pause()
        pilot.app.screen.query_one(Input).cursor_blink = False
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(100, 30), run_before=run_before)


def test_custom_theme(snap_compare, paths, home):
    """You should see the chat of the conversation snapshot (complete reply with a table) in the
    user's "paper" theme from themes/paper.toml: a light cream background, a green primary colour
    (current sidebar row, user message edge) and a purple secondary (model names)."""
    (home / "themes").mkdir()
    (home / "themes" / "paper.toml").write_text(
        'name = "paper"\ndark = false\nprimary = "#2e7d32"\nsecondary = "#6a1b9a"\naccent = "#ef6c00"\n'
        'background = "#fbf7ec"\nsurface = "#f2ecdc"\npanel = "#e6dcc4"\nforeground = "#2b2b2b"\n')
    cfg = home / "config.toml"
    cfg.write_text('theme = "paper"\n' + cfg.read_text())
    seed(paths, "paper", "fake:thinker", conversation()[:2])
    assert snap_compare(make_app(paths), terminal_size=(100, 30), run_before=started)


def test_80x24(snap_compare, paths):
    """You should see the app at 80x24: a narrower sidebar (22 columns) with three workspaces
    (the current one highlighted, one with a red error badge), the end of the conversation with
    the failed reply and its hint, the composer and the footer keys."""
    seed(paths, "notes", "demo:muxtui-demo")
    current = seed(paths, "chat", "fake:thinker", conversation())
    seed(paths, "failing", "fake:x", [{"role": "user", "content": "x"},
                                       {"role": "assistant", "content": "", "status": "error",
                                        "error_type": "server_error", "error": "HTTP 500"}])
    select_last(paths, current)
    assert snap_compare(make_app(paths), terminal_size=(80, 24), run_before=started)
