"""The search screen: type-ahead across workspaces, enter opens the hit in its workspace, and
the in-app export. Snapshot: see the docstring of each snapshot test for what it must show."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Input

from muxtui.engine.storage import Storage
from muxtui.ui.search import SearchScreen
from tests.helpers.app import FIXED_NOW, make_app

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.usefixtures("utc")]


def seed(paths, name, texts, model="fake:plain"):
    storage = Storage(paths.data_dir)
    info = storage.create_workspace(name, model)
    store = storage.store(info.id)
    for n, text in enumerate(texts):
        role = "user" if n % 2 == 0 else "assistant"
        msg = {"id": f"{name}-{n}", "role": role, "content": text, "created_at": FIXED_NOW - 86400 + n * 60}
        if role == "assistant":
            msg.update(model=model, status="complete")
        store.append(msg)
    return info.id


async def ready(pilot) -> None:
    app = pilot.app
    await app.started.wait()
    await app.drain()
    assert await asyncio.to_thread(app.engine.indexer.wait_idle, 30)
    await pilot.pause()


async def search_for(pilot, text: str) -> SearchScreen:
    await pilot.press("ctrl+f")
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen)
    before = screen.searches
    screen.query_one(Input).value = text
    for _ in range(200):  # bounded: each round is one frame
        await pilot.pause()
        if screen.searches > before and not any(w.is_running for w in screen.workers):
            break
    return screen


async def test_enter_opens_the_workspace_at_the_hit(paths):
    filler = [f"filler message number {n}" for n in range(120)]
    old = seed(paths, "old notes", ["where is the giraffe enclosure", "north side", *filler])
    seed(paths, "current", ["hello", "hi there"])
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        screen = await search_for(pilot, "giraffe")
        assert [(h.workspace_name, h.message_id) for h in screen.hits] == [("old notes", "old notes-0")]
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause()
            if app.current_id == old and app.chat.query(".-hit"):
                break
        assert app.current_id == old
        hit = app.chat.query_one(".-hit")
        assert hit.message_id == "old notes-0"  # mounted although it is far above the last page
        assert hit.region.y >= 0 and hit.region.y < app.chat.region.bottom  # scrolled into view


async def test_typing_filters_and_hostile_input(paths):
    seed(paths, "alpha", ["the wombat question", "the wombat answer"])
    seed(paths, "beta", ["a wombat too", "ok"])
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        screen = await search_for(pilot, "womb")
        assert len(screen.hits) == 3
        screen.query_one(Input).value = "wombat ws:alpha role:assistant"
        for _ in range(200):
            await pilot.pause()
            if len(screen.hits) == 1 and not any(w.is_running for w in screen.workers):
                break
        assert [(h.workspace_name, h.role) for h in screen.hits] == [("alpha", "assistant")]
        screen.query_one(Input).value = '"wombat AND ( -'
        for _ in range(50):
            await pilot.pause()
        assert app.screen is screen  # no crash, still searching
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, SearchScreen)


async def test_index_follows_a_reply_sent_in_the_app(paths):
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await app.engine.manager.set_model(app.current_id, "fake:m?chunks=2&text=platypus%20facts")
        app.composer.text = "tell me"
        await pilot.press("enter")
        await app.engine.manager.wait_idle(app.current_id)
        await app.drain()
        assert await asyncio.to_thread(app.engine.indexer.wait_idle, 30)
        screen = await search_for(pilot, "platypus")
        assert [h.role for h in screen.hits] == ["assistant"]


async def test_export_from_the_palette_action_writes_files(paths, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seed(paths, "to export", ["question here", "answer here"])
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await app.run_action("export_workspace('json')")
        await app.run_action("export_workspace('md')")
        await pilot.pause()
    files = sorted(p.name for p in Path(tmp_path).iterdir() if p.suffix in (".json", ".md"))
    assert [Path(f).suffix for f in files] == [".json", ".md"] and files[0].startswith("to-export-")
    assert "answer here" in (tmp_path / files[0]).read_text()
    assert (tmp_path / files[1]).read_text().startswith("# to export")


def test_search_screen_snapshot(snap_compare, paths):
    """You should see the search dialog over the app with the query "wombat", three results
    from two workspaces (name in bold, model or role, date), each with its snippet and the word
    "wombat" highlighted, and "3 matches" above the list."""
    seed(paths, "alpha", ["where does the wombat sleep?", "The wombat sleeps in a burrow it digs itself."])
    seed(paths, "beta zoo", ["a wombat [b]markup[/b] test", "fine"])

    async def run_before(pilot) -> None:
        await ready(pilot)
        screen = await search_for(pilot, "wombat")
        screen.query_one(Input).cursor_blink = False  # the cursor's blink phase must not matter
        await pilot.pause()

    assert snap_compare(make_app(paths), terminal_size=(100, 30), run_before=run_before)


async def test_find_in_workspace_steps_through_hits(paths):
    texts = []
    for n in range(90):
        texts.append(f"kiwi number {n}" if n in (4, 50, 86) else f"plain line {n}")
    seed(paths, "fruit", texts)
    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("f7")
        await pilot.press(*"kiwi", "enter")

        async def shown() -> str:
            for _ in range(100):
                await pilot.pause()
                marked = app.chat.query(".-hit")
                if marked:
                    return marked.first().message_id
            raise AssertionError("no hit shown")

        assert await shown() == "fruit-86"  # the newest first
        assert app.chat.has_focus
        await pilot.press("n")
        assert await shown() == "fruit-50"
        await pilot.press("n")
        assert await shown() == "fruit-4"  # far above the mounted window: mounted on demand
        await pilot.press("N")
        assert await shown() == "fruit-50"
        assert len(app.chat.query(".-hit")) == 1


async def test_search_from_the_command_palette(paths):
    from textual.widgets import OptionList

    app = make_app(paths)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        for _ in range(100):
            await pilot.pause()
            if app.screen.__class__.__name__ == "CommandPalette":
                break
        app.screen.query_one(Input).value = "Search messages"
        for _ in range(100):
            await pilot.pause()
            if app.screen.query_one(OptionList).option_count > 0:
                break
        await pilot.press("enter")
        for _ in range(100):
            await pilot.pause()
            if isinstance(app.screen, SearchScreen):
                break
        assert isinstance(app.screen, SearchScreen)
