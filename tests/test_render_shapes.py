"""The renderer always finishes: hostile reply shapes, slow machines, generated Markdown.

Each shape (muxtui.testing.hostile_markdown) goes through the real StreamingMarkdown in a
pilot app, streamed and finished (as opened from history), and must end ``rendered`` with
its last word painted and on screen after scrolling to the end. Every wait is bounded
(``asyncio.wait_for``), so a renderer that spins fails here instead of hanging the suite.
The big shapes are scaled down here; tests/stress/test_render_matrix.py runs them full size.
"""

from __future__ import annotations

import asyncio
import time
import os
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll

from muxtui.testing import hostile_markdown
from muxtui.ui.markdown import StreamingMarkdown
from muxtui.ui.markdown import steps as sm_module
from tests.helpers.app import screen_text

BOUND = float(os.environ.get("MUXTUI_RENDER_BOUND", 90))  # seconds: far above a healthy run on a loaded 2-core machine
SCALE = 0.02  # the big shapes at 2 % here (1,000-line fence, 100-row table...)
MAX_EXAMPLES = 200 if os.environ.get("MUXTUI_STRESS") == "full" else 20


class Host(App):
    CSS = "Markdown { padding: 0; } VerticalScroll { height: 1fr; }"

    def __init__(self, widget: StreamingMarkdown) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield self.widget


def painted(widget: StreamingMarkdown) -> str:
    """What the widget painted, top to bottom, as text (read from its children directly, so
    the same check runs against older versions of the widget)."""
    out = []
    for child in widget.children:
        if hasattr(child, "plain_text"):
            out.append(child.plain_text())
        elif hasattr(child, "_live_lines"):
            if widget.size.width:
                child._ensure(child.size.width or widget.size.width)
            out.extend("".join(text for text, _ in line) for line in child._lines + child._live_lines)
        else:
            out.append(getattr(child, "source", ""))
    return "\n".join(out)


async def styled(widget: StreamingMarkdown) -> None:
    wait = getattr(widget, "wait_styled", None)
    if wait is not None:
        await asyncio.wait_for(wait(), BOUND)


def squeezed(text: str) -> str:
    return "".join(text.split())


def assert_words_in_order(words: list[str], painted: str) -> None:
    """Every word painted, in order (plain blocks fold inside words: whitespace is ignored)."""
    flat = squeezed(painted)
    at = 0
    for word in words:
        found = flat.find(word, at)
        assert found != -1, f"{word!r} not painted (after offset {at})"
        at = found + len(word)


async def stream_in(pilot, widget: StreamingMarkdown, text: str, chunk: int, pace: float | None) -> None:
    for n, start in enumerate(range(0, len(text), chunk)):
        widget.append(text[start : start + chunk])
        if pace is not None:
            await asyncio.sleep(pace)  # a model's pace, not a synchronisation
        elif n % 50 == 0:
            await pilot.pause()


async def check_end(app: Host, pilot, widget: StreamingMarkdown, text: str, last: str) -> None:
    assert widget.rendered
    assert widget.text == text
    assert last in squeezed(painted(widget))
    scroll = app.query_one(VerticalScroll)
    # Layouts are rate-limited while a big text catches up (a deferred refresh follows), so the
    # scroll end can lag one layout behind the painted lines: scroll again until the end shows.
    deadline = time.monotonic() + BOUND
    while True:
        scroll.scroll_end(animate=False)
        await pilot.pause()
        if last in squeezed(screen_text(app)):
            break
        assert time.monotonic() < deadline, "the end of the reply is not on screen"
        await pilot.pause(0.05)


async def render_streamed(text: str, last: str, chunk: int = 20, pace: float | None = None,
                          size=(80, 24)) -> None:
    widget = StreamingMarkdown(streaming=True)
    app = Host(widget)
    async with app.run_test(size=size) as pilot:
        await asyncio.wait_for(stream_in(pilot, widget, text, chunk, pace), BOUND)
        await asyncio.wait_for(widget.finish(text), BOUND)
        await pilot.pause()
        await check_end(app, pilot, widget, text, last)
        await styled(widget)


async def render_finished(text: str, last: str, size=(80, 24)) -> None:
    """A finished message, as a workspace shows it when opened."""
    widget = StreamingMarkdown(text)
    app = Host(widget)
    async with app.run_test(size=size) as pilot:
        await asyncio.wait_for(app.workers.wait_for_complete(), BOUND)
        await pilot.pause()
        await check_end(app, pilot, widget, text, last)
        await styled(widget)


SHAPES = [name for name in hostile_markdown.SHAPES if name != "ordinary"]


@pytest.mark.parametrize("name", SHAPES)
async def test_streamed_shape_renders_completely(name):
    _, text, last = hostile_markdown.shape(name, SCALE)
    await render_streamed(text, last, chunk=max(20, len(text) // 300))


@pytest.mark.parametrize("path", ["compose", "worker"])
@pytest.mark.parametrize("name", SHAPES)
async def test_finished_shape_renders_completely(name, path, monkeypatch):
    """`worker`: a finished message of PARSE_IN_THREAD or more renders in steps after mounting
    (scaled down here with the threshold): the path that spun on every restart."""
    if path == "worker":
        monkeypatch.setattr(sm_module, "PARSE_IN_THREAD", 1_000)
    _, text, last = hostile_markdown.shape(name, SCALE)
    await render_finished(text, last)


async def test_finished_shape_above_the_thread_threshold(monkeypatch):
    """Long finished messages render in a worker (the path that spun on every restart)."""
    monkeypatch.setattr(sm_module, "PARSE_IN_THREAD", 1_000)
    _, text, last = hostile_markdown.shape("code_4k")
    await render_finished(text, last)


async def test_code_block_at_a_models_pace_ends_styled_like_markdown():
    """The reported case: 4.2 KB, one closed python fence, 20 characters every 10 ms. The whole
    block ends on screen, styled exactly as Textual's Markdown shows it."""
    from tests.test_streaming_markdown import assert_same_screen, cells, static_screen

    _, text, last = hostile_markdown.shape("code_4k")
    size = (80, 160)
    widget = StreamingMarkdown(streaming=True)
    app = Host(widget)
    async with app.run_test(size=size) as pilot:
        await asyncio.wait_for(stream_in(pilot, widget, text, 20, 0.01), BOUND)
        await asyncio.wait_for(widget.finish(text), BOUND)
        await styled(widget)
        await pilot.pause()
        assert widget.rendered
        assert last in painted(widget)
        screen = cells(app)
    expected = await static_screen(text, size=size)
    assert_same_screen(expected, screen)


async def test_the_same_block_in_one_chunk():
    _, text, last = hostile_markdown.shape("code_8k")
    await render_streamed(text, last, chunk=len(text))


async def test_ordinary_markdown_streams_through():
    _, text, last = hostile_markdown.shape("ordinary", 0.02)  # 100 KB here; 5 MB in make stress
    await render_streamed(text, last, chunk=4_000, size=(100, 30))


@pytest.mark.parametrize("name", ["code_4k", "unclosed_fence", "table", "wide_paragraph"])
async def test_a_slow_machine_still_finishes(name, monkeypatch):
    """Every step 'costs' far more than the target: the budget sits at its floor, and
    progress must not depend on it."""
    monkeypatch.setattr(sm_module, "STEP_TARGET", 1e-9)
    _, text, last = hostile_markdown.shape(name, SCALE)
    await render_streamed(text, last, chunk=max(20, len(text) // 200))
    await render_finished(text, last)


async def test_a_faked_slow_clock_still_finishes(monkeypatch):
    """Each clock reading is a second later than the one before: every step looks slow."""
    ticks = iter(range(10**9))
    monkeypatch.setattr(sm_module, "_clock", lambda: float(next(ticks)), raising=False)
    for name in ("code_4k", "deep_list", "table"):
        _, text, last = hostile_markdown.shape(name, SCALE)
        await render_streamed(text, last, chunk=50)


async def test_steps_are_bounded_and_linear():
    """An unclosed fence of N lines takes O(N / PLAIN_STEP) steps, each bounded: the old
    renderer re-read the same window forever."""
    _, text, last = hostile_markdown.shape("unclosed_fence", 0.2)  # 10,000 lines, ~140 KB
    widget = StreamingMarkdown(streaming=True)
    app = Host(widget)
    async with app.run_test(size=(80, 24)) as pilot:
        widget.append(text)
        await asyncio.wait_for(widget.finish(), BOUND)
        await pilot.pause()
        assert widget.rendered
        assert widget.flushes <= 40
        assert last in squeezed(painted(widget))


async def test_a_big_fence_is_plain_first_then_styled():
    from muxtui.ui.markdown.plain import _PlainBlock

    _, text, last = hostile_markdown.shape("unclosed_fence", 0.1)  # 5,000 lines, ~70 KB
    widget = StreamingMarkdown(streaming=True)
    app = Host(widget)
    async with app.run_test(size=(80, 24)) as pilot:
        widget.append(text)
        await widget.flush()
        plain = [child for child in widget.children if isinstance(child, _PlainBlock)]
        assert plain and not plain[0].styled  # still open: shown plain
        await asyncio.wait_for(widget.finish(), BOUND)
        await styled(widget)
        await pilot.pause()
        assert plain[0].styled
        assert last in painted(widget)


async def test_a_huge_table_stays_plain_but_whole():
    from muxtui.ui.markdown.plain import _PlainBlock
    from muxtui.ui.markdown.steps import _FallbackMarkdown

    _, text, last = hostile_markdown.shape("table", 0.1)  # 500 rows
    widget = StreamingMarkdown(text)
    app = Host(widget)
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(app.workers.wait_for_complete(), BOUND)
        await styled(widget)
        await pilot.pause()
        assert not list(widget.query(_FallbackMarkdown))
        plain = list(widget.query(_PlainBlock))
        assert plain and not plain[0].styled
        assert "| 499 | row_499 |" in painted(widget)


# ---- generated Markdown ---------------------------------------------------------------------

WORD = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9)


def _words(draw, low=1, high=12) -> list[str]:
    return draw(st.lists(WORD, min_size=low, max_size=high))


@st.composite
def documents(draw) -> tuple[str, list[str]]:
    """Mixed blocks (some much larger than LIVE_MAX is made here) and the words in them."""
    blocks: list[str] = []
    words: list[str] = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["p", "h", "ul", "ol", "quote", "fence", "table", "deep", "long"]))
        if kind == "p":
            w = _words(draw)
            blocks.append(" ".join(w))
        elif kind == "h":
            w = _words(draw, 1, 4)
            blocks.append("#" * draw(st.integers(1, 6)) + " " + " ".join(w))
        elif kind in ("ul", "ol"):
            lines = []
            for n in range(draw(st.integers(1, 6))):
                w = _words(draw, 1, 5)
                words.extend(w)
                lines.append(("- " if kind == "ul" else f"{n + 1}. ") + " ".join(w))
            blocks.append("\n".join(lines))
            continue
        elif kind == "quote":
            w = _words(draw)
            blocks.append("> " + " ".join(w))
        elif kind == "fence":
            lines = [" ".join(_words(draw, 1, 4)) for _ in range(draw(st.integers(1, 30)))]
            for line in lines:
                words.extend(line.split())
            blocks.append("```\n" + "\n".join(lines) + "\n```")
            continue
        elif kind == "table":
            rows = [_words(draw, 2, 2) for _ in range(draw(st.integers(1, 30)))]
            for row in rows:
                words.extend(row)
            blocks.append("| a | b |\n|---|---|\n" + "\n".join(f"| {x} | {y} |" for x, y in rows))
            continue
        elif kind == "deep":
            # Deeper lists are clipped to nothing by the width itself, as in Textual's Markdown.
            depth = draw(st.integers(2, 8))
            w = [draw(WORD) for _ in range(depth)]
            words.extend(w)
            blocks.append("\n".join("  " * n + "- " + x for n, x in enumerate(w)))
            continue
        else:  # one long paragraph
            w = _words(draw, 30, 120)
            blocks.append(" ".join(w))
        words.extend(w)
    unclosed = draw(st.booleans())
    text = "\n\n".join(blocks) + "\n"
    if unclosed:
        tail = _words(draw, 1, 6)
        words.extend(tail)
        text += "\n```\n" + "\n".join(tail)
    return text, words


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents(), cuts=st.lists(st.integers(1, 400), min_size=1, max_size=40),
       live_max=st.sampled_from([64, 256, 4_096]), pauses=st.lists(st.booleans(), min_size=1, max_size=40))
async def test_generated_markdown_always_completes_with_every_word(doc, cuts, live_max, pauses):
    text, words = doc
    chunks, at, n = [], 0, 0
    while at < len(text):
        size = cuts[n % len(cuts)]
        chunks.append(text[at : at + size])
        at += size
        n += 1
    with mock.patch.object(sm_module, "LIVE_MAX", live_max, create=True), \
            mock.patch.object(sm_module, "TABLE_MAX", live_max, create=True):
        widget = StreamingMarkdown(streaming=True)
        app = Host(widget)
        async with app.run_test(size=(60, 20)) as pilot:
            for n, chunk in enumerate(chunks):
                widget.append(chunk)
                if pauses[n % len(pauses)]:
                    await pilot.pause()
            await asyncio.wait_for(widget.finish(), BOUND)
            await styled(widget)
            await pilot.pause()
            assert widget.rendered and widget.text == text
            assert_words_in_order(words, painted(widget))


def test_scanner_never_ends_a_block_inside_a_fence():
    from muxtui.ui.markdown.blocks import _Scanner

    text = "para\n```\ncode\n\nnot a boundary\n```\n\nnext block\n"
    scanner = _Scanner(text, 0)
    assert scanner.scan(text, len(text), final=True) == text.index("next block")
    fence = "````py\nx\n```\nstill code\n````\nafter\n"
    assert _Scanner(fence, 0).scan(fence, len(fence), final=True) == fence.index("after")
    listed = "- a\n\n  b\n\n- c\n\nend\n"
    assert _Scanner(listed, 0).scan(listed, len(listed), final=True) == listed.index("end")


async def test_finish_with_another_text_while_a_block_is_plain():
    """The committed text wins over what an open plain block was fed."""
    _, text, _ = hostile_markdown.shape("unclosed_fence", 0.1)
    widget = StreamingMarkdown(streaming=True)
    app = Host(widget)
    async with app.run_test(size=(80, 24)) as pilot:
        widget.append(text)
        await widget.flush()
        final = "Log:\n\n```text\nreplaced_entirely\n```\n"
        await asyncio.wait_for(widget.finish(final), BOUND)
        await styled(widget)
        await pilot.pause()
        shown = painted(widget)
        assert "replaced_entirely" in shown and "line 1 ok" not in shown
