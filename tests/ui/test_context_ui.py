"""The context meter and compaction in the app (issue 16, section 2): pilot flows against the
local fake server and snapshots of the meter at 10%, 85% and 100%."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from muxtui.engine.storage import Storage
from muxtui.ui.messages import SummaryMessage
from tests.helpers.app import FIXED_NOW, make_app, screen_text

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def seed(paths, name: str, model: str, messages: list[dict]) -> str:
    storage = Storage(paths.data_dir)
    info = storage.create_workspace(name, model)
    store = storage.store(info.id)
    for n, m in enumerate(messages):
        store.append({"id": f"{info.id}-{n}", "created_at": FIXED_NOW - 3600 + n, **m})
    (paths.data_dir / "ui.json").write_text(json.dumps({"version": 1, "last_workspace": info.id}))
    return info.id


def used(tokens: int, model: str = "openai:gpt-4o") -> list[dict]:
    """A two-message conversation whose reply reports ``tokens`` in all (input + output)."""
    return [{"role": "user", "content": "Summarise the design document."},
            {"role": "assistant", "content": "Here is the summary you asked for.", "model": model,
             "status": "complete", "usage": {"input_tokens": tokens - 100, "output_tokens": 100}}]


async def ready(pilot) -> None:
    app = pilot.app
    await app.started.wait()
    await app.drain()
    for _ in range(3):  # the window asked of the engine, a compaction, and what they start
        for worker in [w for w in app.workers if w.group in ("context-window", "compact")]:
            await worker.wait()
        await app.drain()
        await pilot.pause()
    await pilot.pause()


def add_openai(paths) -> None:
    cfg = paths.config_file
    cfg.write_text(cfg.read_text() + '\n[providers.openai]\ntype = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                   'api_key_env = "MUXTUI_TEST_KEY"\n')


@pytest.mark.parametrize(("tokens", "name"), [(12_800, "ten"), (108_800, "eighty-five"), (128_000, "full")])
def test_meter_snapshot(snap_compare, paths, tokens, name):
    """You should see the workspace's header: "<name> — gpt-4o · ctx 13k/128k (10%) · idle" (10%:
    the meter dim like the rest), "ctx 109k/128k (85%)" in bold warning yellow, or
    "ctx 128k/128k (100%)" in bold error red; the chat shows the two seeded messages."""
    add_openai(paths)
    seed(paths, name, "openai:gpt-4o", used(tokens))
    assert snap_compare(make_app(paths), terminal_size=(80, 24), run_before=ready)


async def test_meter_levels_in_the_title(paths):
    add_openai(paths)
    seed(paths, "w", "openai:gpt-4o", used(108_800))
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert "ctx 109k/128k (85%)" in app.sub_title
        assert app._meter_shown == ("ctx 109k/128k (85%)", "warning")
        title = app.format_title(app.title, app.sub_title)
        spans = [(title.plain[s.start:s.end], str(s.style)) for s in title.spans]
        assert any(text == "ctx 109k/128k (85%)" and "$warning" in style for text, style in spans)


async def test_no_meter_for_a_model_of_unknown_window(paths):
    seed(paths, "w", "fake:mystery", used(50_000, "fake:mystery"))
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert "ctx" not in app.sub_title


async def test_window_from_config_and_the_meter_follows_new_messages(paths, home):
    cfg = paths.config_file
    cfg.write_text(cfg.read_text() + '\n[context]\nwindow = 1000\n')
    tag = uuid.uuid4().hex[:8]
    seed(paths, "w", f"fake:w{tag}?text=ok&usage=0", [])
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert "ctx" not in app.sub_title  # empty: nothing to show
        app.composer.load_text("x" * 2000)
        await pilot.press("enter")
        await app.engine.wait_idle(app.current_id)
        await ready(pilot)
        assert "ctx 509/1k (51%)" in app.sub_title  # 2000 chars / 4 + the message overhead, estimated
        assert app._meter_shown[1] == "ok"


async def compact_flow(paths, compact_model: str) -> tuple:
    cfg = paths.config_file
    cfg.write_text(cfg.read_text() + f'\n[context]\nwindow = 1000\nkeep_turns = 1\ncompact_model = "{compact_model}"\n')
    tag = uuid.uuid4().hex[:8]
    ws = seed(paths, "long", f"fake:w{tag}?text=reply", [
        {"role": "user", "content": f"first question {tag}"},
        {"role": "assistant", "content": "first answer", "model": "fake:w", "status": "complete"},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "second answer", "model": "fake:w", "status": "complete"},
    ])
    return ws, tag


async def test_compact_from_the_composer(paths, fake_server):
    tag = uuid.uuid4().hex[:8]
    ws, _ = await compact_flow(paths, f"fake:sum{tag}?text=THE-SUMMARY-{tag}")
    app = make_app(paths)
    notes: list[str] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
        await ready(pilot)
        before = len(fake_server.requests)
        meter_before = app._meter_shown
        app.composer.load_text("/compact")
        await pilot.press("enter")
        await ready(pilot)
        # Not sent as a message: the one request was the summary call.
        assert [r["json"]["model"] for r in fake_server.requests[before:]] == [f"sum{tag}?text=THE-SUMMARY-{tag}"]
        assert app.composer.text == ""
        summaries = list(app.chat.query(SummaryMessage))
        assert len(summaries) == 1
        assert f"THE-SUMMARY-{tag}" in screen_text(app)
        collapsed = [w.message_id for w in app.chat.query(".-summarized")]
        assert collapsed == [f"{ws}-0", f"{ws}-1"]  # the originals stay, collapsed
        assert any("compacted messages" in n for n in notes)
        # The meter counts the summary instead of what it replaced.
        assert meter_before is not None and app._meter_shown is not None
        assert int(app._meter_shown[0].split()[1].split("/")[0]) < int(meter_before[0].split()[1].split("/")[0])


async def test_failed_compact_changes_nothing_and_says_why(paths, fake_server):
    tag = uuid.uuid4().hex[:8]
    ws, _ = await compact_flow(paths, f"fake:sum{tag}?status=500")
    chat_file = Storage(paths.data_dir).store(ws).chat
    before = chat_file.read_bytes()
    app = make_app(paths)
    notes: list[tuple[str, str]] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.notify = lambda message, severity="information", **kw: notes.append((str(message), severity))  # type: ignore[method-assign]
        await ready(pilot)
        await app.run_action("compact")  # the palette's "Compact conversation"
        await ready(pilot)
        assert chat_file.read_bytes() == before
        assert not list(app.chat.query(SummaryMessage)) and not list(app.chat.query(".-summarized"))
        errors = [text for text, severity in notes if severity == "error"]
        assert errors and "could not compact (server_error)" in errors[0]


async def test_palette_lists_compact(paths):
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert "Compact conversation" in [c.title for c in app.palette_commands()]


async def test_context_exceeded_hint_offers_compact_and_retry(paths, fake_server):
    tag = uuid.uuid4().hex[:8]
    cfg = paths.config_file
    cfg.write_text(cfg.read_text() + f'\n[context]\nkeep_turns = 1\ncompact_model = "fake:s{tag}?text=SHORT-{tag}"\n')
    model = f"fake:w{tag}?text=fits&status=400&context=1&fail_first=1"
    seed(paths, "long", model, [
        {"role": "user", "content": f"old {tag}"},
        {"role": "assistant", "content": "old answer", "model": model, "status": "complete"},
    ])
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        app.composer.load_text("one more")
        await pilot.press("enter")
        await app.engine.wait_idle(app.current_id)
        await ready(pilot)
        assert "f8 compacts it and" in screen_text(app)  # the error's hint (wrapped after "and")
        await pilot.press("f8")
        await ready(pilot)
        await app.engine.wait_idle(app.current_id)
        await ready(pilot)
        history = app.view.messages
        assert history[-1]["status"] == "complete" and history[-1]["content"] == "fits"
        sent = json.dumps(fake_server.requests[fake_server.request_index(model.partition(":")[2])]["json"])
        assert f"SHORT-{tag}" in sent and f"old {tag}" not in sent
