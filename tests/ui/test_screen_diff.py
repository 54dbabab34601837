"""ui/screen_diff: whatever frames Textual paints, the terminal fed only the diffs shows what a
full repaint by Textual's own code would (a pyte terminal, cell by cell), and it costs less.

Frames are random rows of styled segments (colours, bold/reverse/underline, links, wide and
combining characters), changed as an app changes them: a few cells, a scroll of a pane, a
whole new screen, painted by full or partial updates.
"""

from __future__ import annotations

import random

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from muxtui.ui.screen_diff import ScreenDiff

pyte = pytest.importorskip("pyte")

W, H = 24, 10
CONSOLE = Console(color_system="truecolor", force_terminal=True, width=W)
STYLES = [
    None,
    Style(color="#e0e0e0", bgcolor="#121212"),
    Style(color="#57a5e2", bgcolor="#121212"),
    Style(color="#e0e0e0", bgcolor="#262626", bold=True),
    Style(color="#121212", bgcolor="#e0e0e0", reverse=True),
    Style(color="red", underline=True),
    Style(bgcolor="#242e38"),
    Style(color="#f4bb6e", bgcolor="#241d13", italic=True, link="https://example.com/a"),
    Style(color="#f4bb6e", bgcolor="#241d13", link="https://example.com/b"),
    Style(color="color(3)", bgcolor="color(236)"),
]
NO_WRAP = "\x1b[?7l"  # Textual turns the terminal's line wrap off
TEXTS = ["hello ", "world", "  ", "    ", "x", "▕", "⭘ ", "漢字", "e\u0301", "─────", "ab"]


def random_row(rng: random.Random) -> list[Segment]:
    segments, width = [], 0
    while width < W:
        text = rng.choice(TEXTS)
        segment = Segment(text, rng.choice(STYLES))
        length = segment.cell_length
        if width + length > W:
            segment = Segment(" " * (W - width), rng.choice(STYLES))
            length = W - width
        segments.append(segment)
        width += length
    return segments


def textual_paint(rows: list[list[Segment]]):
    """The terminal after a full repaint written as Textual writes one."""
    screen = pyte.Screen(W, H)
    stream = pyte.Stream(screen)
    stream.feed(NO_WRAP)
    for y, row in enumerate(rows):
        stream.feed(f"\x1b[{y + 1};1H" + Strip(row).render(CONSOLE))
    return screen


def cells(screen) -> list[list[tuple]]:
    """What each cell shows: a plain space shows only its background."""
    return [[(c.data, c.bg) if c.data == " " and not (c.reverse or c.underscore or c.strikethrough)
             else (c.data, c.fg, c.bg, c.bold, c.italics, c.underscore, c.reverse)
             for c in (screen.buffer[y][x] for x in range(W))] for y in range(H)]


def change(rng: random.Random, rows: list[list[Segment]]) -> tuple[list[list[Segment]], set[int]]:
    """The next frame and the rows Textual would report as painted."""
    kind = rng.choice(["cells", "cells", "scroll_up", "scroll_down", "all", "pane_scroll"])
    rows = [list(r) for r in rows]
    if kind == "cells":
        touched = set(rng.sample(range(H), rng.randint(1, 3)))
        for y in touched:
            rows[y] = random_row(rng)
        return rows, touched
    if kind in ("scroll_up", "scroll_down"):
        n = rng.randint(1, 3)
        if kind == "scroll_up":
            rows = rows[n:] + [random_row(rng) for _ in range(n)]
        else:
            rows = [random_row(rng) for _ in range(n)] + rows[:-n]
        return rows, set(range(H))
    if kind == "pane_scroll":  # a left column that stays, a pane on the right that scrolls
        n = rng.randint(1, 3)
        left = [Strip(r).crop(0, 8) for r in rows]
        right = [Strip(r).crop(8, W) for r in rows]
        right = right[n:] + [Strip(random_row(rng)).crop(8, W) for _ in range(n)]
        rows = [list(left[y]) + list(right[y]) for y in range(H)]
        return rows, set(range(H))
    return [random_row(rng) for _ in range(H)], set(range(H))


@pytest.mark.parametrize("seed", range(20))
def test_the_diffs_paint_what_textual_would(seed):
    rng = random.Random(seed)
    diff = ScreenDiff()
    diff.reset(W, H)
    terminal = pyte.Screen(W, H)
    stream = pyte.Stream(terminal)
    stream.feed(NO_WRAP)
    rows = [random_row(rng) for _ in range(H)]
    full_bytes = sent = 0
    for frame in range(25):
        if frame:
            rows, touched = change(rng, rows)
        else:
            touched = set(range(H))
        for y in touched:
            if rng.random() < 0.5:  # a partial update: pieces of the row, as chops (cut between
                # segments, as the compositor cuts between widgets: never through a character)
                split = rng.randint(0, len(rows[y]))
                cut = Strip(rows[y][:split]).cell_length
                pieces = [(0, rows[y][:split]), (cut, rows[y][split:])]
            else:
                pieces = [(0, rows[y])]
            diff.apply(y, pieces)
        text = diff.diff()
        stream.feed(text)
        sent += len(text.encode())
        full_bytes += sum(len(Strip(r).render(CONSOLE).encode()) + 8 for r in rows)
        assert cells(terminal) == cells(textual_paint(rows)), f"frame {frame}"
    assert sent < full_bytes


def test_a_pane_that_scrolls_uses_the_terminals_scroll():
    rng = random.Random(7)
    diff = ScreenDiff()
    diff.reset(W, H)
    terminal = pyte.Screen(W, H)
    stream = pyte.Stream(terminal)
    stream.feed(NO_WRAP)
    lines = [random_row(rng) for _ in range(H + 5)]
    for top in range(5):
        for y in range(H):
            diff.apply(y, [(0, lines[top + y])])
        text = diff.diff()
        stream.feed(text)
        assert cells(terminal) == cells(textual_paint(lines[top:top + H]))
        if top:  # one index, then the new bottom row only
            full = sum(len(Strip(r).render(CONSOLE)) for r in lines[top:top + H])
            assert "\x1bD" in text and len(text) < full / 4, text
    assert diff.scrolls == 4


def test_an_unchanged_frame_costs_nothing_and_a_blink_one_cell():
    diff = ScreenDiff()
    diff.reset(W, H)
    rows = [[Segment(" " * W, STYLES[1])] for _ in range(H)]
    for y in range(H):
        diff.apply(y, [(0, rows[y])])
    diff.diff()
    for y in range(H):
        diff.apply(y, [(0, rows[y])])
    assert not diff.changed() and diff.diff() == ""
    cursor = [Segment(" " * 5, STYLES[1]), Segment(" ", STYLES[4]), Segment(" " * (W - 6), STYLES[1])]
    diff.apply(3, [(0, cursor)])
    text = diff.diff(cursor=(5, 3))  # the terminal's cursor is on that cell already
    assert text.count("\x1b[") <= 2 and len(text) < 45, repr(text)
