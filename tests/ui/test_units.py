"""Unit tests of the UI's small parts: safe text, the badge tracker, key sequences, themes, ui.json."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from textual.app import App
from textual.widgets import Static

from muxtui.engine import events as ev
from muxtui.engine.events import Event
from muxtui.engine.storage import WorkspaceInfo
from muxtui.ui import persist, terminal_keys
from muxtui.ui.safe import BIDI, one_line, visible
from muxtui.ui.state import WorkspaceTracker
from muxtui.ui.themes import load_themes, parse_theme

# ---- safe.visible ---------------------------------------------------------------------------


def test_visible_neutralises_escapes_and_keeps_text():
    hostile = "a\x1b[2Jb\x1b]52;c;aGk=\x07c\x00d\x9be\u202ef\u2066g\r\n\th\x7f"
    shown = visible(hostile)
    assert shown == "a␛[2Jb␛]52;c;aGk=␇c␀d<U+009B>e<U+202E>f<U+2066>g\n\th␡"
    assert visible("[/INST] [bold]x[/bold] [link=http://x]y[/link]") == "[/INST] [bold]x[/bold] [link=http://x]y[/link]"
    assert visible("plain text, émoji 🙂, 中文") == "plain text, émoji 🙂, 中文"
    assert visible(None) == ""


@given(st.text())
def test_visible_output_has_no_controls_or_bidi(text):
    shown = visible(text)
    for ch in shown:
        assert ch in "\n\t" or unicodedata.category(ch) != "Cc", repr(ch)
        assert ch not in BIDI
    assert visible(shown) == shown  # idempotent


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\r")), max_size=8))
def test_visible_is_chunk_independent(chunks):
    assert "".join(visible(c) for c in chunks) == visible("".join(chunks))


def test_one_line():
    assert one_line("a\n b\x1b  c", 6) == "a b␛ c"
    assert one_line("abcdefgh", 5) == "abcd…"


async def test_hostile_text_in_static_content_never_crashes():
    from textual.content import Content

    class Probe(App):
        def compose(self):
            yield Static(Content(visible("[/INST] [bold]x[/bold] [link=http://x]y[/link] \x1b[2J")))

    app = Probe()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert "[/INST] [bold]x[/bold]" in str(app.query_one(Static).render())


# ---- WorkspaceTracker -----------------------------------------------------------------------


async def test_tracker_publishes_only_on_change_and_never_per_token():
    published = []

    class Host(App):
        pass

    app = Host()
    async with app.run_test() as pilot:
        tracker = WorkspaceTracker(app)
        tracker.changed.subscribe(app, published.append, immediate=True)
        tracker.add(WorkspaceInfo("w1", "one", "demo:x", 0.0))
        tracker.add(WorkspaceInfo("w2", "two", "demo:x", 0.0))
        tracker.set_current("w1")
        published.clear()
        tracker.handle(Event.make(ev.STREAM_STARTED, "w2", **{"request_id": "r"}))
        for _ in range(500):
            tracker.on_delta("w2")  # background: unread once
            tracker.on_delta("w1")  # current: nothing
        tracker.handle(Event.make(ev.QUEUE_CHANGED, "w2", **{"items": [{"id": "q", "text": "x"}]}))
        tracker.handle(Event.make(ev.QUEUE_CHANGED, "w2", **{"items": [{"id": "q", "text": "x"}]}))  # same count
        tracker.handle(Event.make(ev.STREAM_ERROR, "w2", **{"request_id": "r", "message": {"error_type": "rate_limit"}}))
        assert [(s.streaming, s.unread, s.queued, s.error_type) for s in published] == [
            (True, False, 0, None),
            (True, True, 0, None),
            (True, True, 1, None),
            (False, True, 1, "rate_limit"),
        ]
        state = tracker.get("w2")
        tracker.handle(Event.make(ev.STREAM_STARTED, "w2", request_id="r"))
        assert tracker.get("w2").error_type == "rate_limit"  # stays until a good turn
        tracker.handle(Event.make(ev.STREAM_COMPLETE, "w2", **{"request_id": "r", "message": {}}))
        assert tracker.get("w2").error_type is None and not tracker.get("w2").streaming
        tracker.set_current("w2")
        assert not tracker.get("w2").unread
        tracker.handle(Event.make(ev.WORKSPACE_DELETED, "w2", **{}))
        assert "w2" not in tracker and published[-1].deleted
        assert state.id == "w2"
        await pilot.pause()


def test_tracker_seed_from_history():
    class Host(App):
        pass

    tracker = WorkspaceTracker(Host())
    tracker.add(WorkspaceInfo("w", "w", "m:x", 0.0))
    tracker.seed("w", [{"role": "user"}, {"role": "assistant", "status": "interrupted", "recovered": True}], [], False)
    s = tracker.get("w")
    assert s.interrupted and s.recovered and s.error_type is None
    tracker.seed("w", [{"role": "assistant", "status": "error", "error_type": "quota"}], [{}, {}], False)
    s = tracker.get("w")
    assert s.error_type == "quota" and s.queued == 2 and not s.interrupted


# ---- legacy terminal key sequences ------------------------------------------------------------


def parse(sequence: str) -> list[str]:
    from textual._xterm_parser import XTermParser

    parser = XTermParser()
    keys = [getattr(e, "key", None) for e in parser.feed(sequence)]
    keys += [getattr(e, "key", None) for e in parser.feed("")]
    return [k for k in keys if k]


def test_alt_keys_over_ssh_are_single_keys():
    terminal_keys.install()
    assert parse("\x1b[1;3A") == ["alt+up"]  # not escape (which would interrupt) + up
    assert parse("\x1b[1;3B") == ["alt+down"]
    assert parse("\x1b\r") == ["alt+enter"]  # not enter (which would send)
    assert parse("\x1b3") == ["alt+3"]
    assert parse("\n") == ["ctrl+j"]
    assert parse("\r") == ["enter"]


# ---- themes and ui.json -----------------------------------------------------------------------


def test_shipped_themes_parse():
    from muxtui.ui.themes import SHIPPED_DIR

    themes, problems = load_themes(SHIPPED_DIR)
    assert {t.name for t in themes} >= {"muxtui-dark", "muxtui-light"} and problems == []
    light = next(t for t in themes if t.name == "muxtui-light")
    assert light.dark is False


def test_theme_problems_are_reported(tmp_path):
    (tmp_path / "a.toml").write_text('name = "a"\nprimary = "#123456"\nbogus = 1\n')
    (tmp_path / "b.toml").write_text("name = \n")
    (tmp_path / "c.toml").write_text('name = "c"\nprimary = "#123456"\ndark = "yes"\n')
    (tmp_path / "d.toml").write_text('name = "d"\nprimary = "#123456"\naccent = "#abcdef"\n')
    themes, problems = load_themes(tmp_path)
    assert [t.name for t in themes] == ["d"]
    messages = " | ".join(str(p) for p in problems)
    assert "bogus" in messages and "invalid TOML" in messages and "dark must be" in messages
    assert parse_theme(tmp_path / "d.toml").accent == "#abcdef"


def test_ui_state_round_trip_and_damage(tmp_path):
    path = tmp_path / "ui.json"
    assert persist.load(path).last_workspace is None
    state = persist.UIState(last_workspace="w1", drafts={"w1": "hi", "w2": ""}, sidebar=False)
    persist.save(path, state.to_dict())
    loaded = persist.load(path)
    assert loaded.last_workspace == "w1" and loaded.drafts == {"w1": "hi"} and loaded.sidebar is False
    path.write_text("{not json")
    assert persist.load(path).drafts == {}


def test_save_setting_adds_an_absent_key_above_the_first_table(tmp_path):
    import tomllib

    from muxtui.config import save_setting

    path = tmp_path / "config.toml"
    path.write_text('# mine\ndefault_model = "demo:x"\n\n[providers.demo]\ntype = "demo"\n')
    save_setting(path, "theme", "muxtui-light")
    data = tomllib.loads(path.read_text())
    assert data["theme"] == "muxtui-light" and data["providers"]["demo"]["type"] == "demo"
    assert "# mine" in path.read_text()
    save_setting(path, "theme", "nord")
    assert path.read_text().count("theme =") == 1 and tomllib.loads(path.read_text())["theme"] == "nord"
