"""StreamingMarkdown: every character kept, and it looks exactly like Textual's Markdown.

Each comparison renders the same text twice in identical headless apps, once with Textual's
``Markdown`` and once with ``StreamingMarkdown`` (static, or streamed in random chunks), and
compares the whole screen cell by cell: character, colours, bold/italic/underline/strike.
No sleeps: streamed text is settled with ``flush()``/``finish()`` and ``pilot.pause()``.
"""

from __future__ import annotations

import random

import pytest
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.selection import SELECT_ALL
from textual.widget import Widget
from textual.widgets import Markdown

from muxtui.testing import markdown_mix
from muxtui.ui.markdown import StreamingMarkdown
from muxtui.ui.markdown import steps as sm_module
from muxtui.ui.textual_private import screen_strips

SIZE = (80, 150)

MIX = """# Title

Intro with **bold**, *italic*, `code`, ~~strike~~, a [link](https://example.com) and https://example.org.
A second line with a hard break  
right here.

## Lists

- one
- two with `code`
  - nested
    1. deep
- three

3. three
4. four
10. ten

- loose item

  with a second paragraph

> quote line
> continues
>
> > nested quote

```python
def f(x):
    return x + 1  # a comment long enough to run past the right edge of the fence, clipped there
```

| a | b |
|---|--:|
| 1 | 2 |
| three | four |

---

Setext heading
--------------

Text with [bold]x[/bold], [/INST] and [/mnt/data] literally, and <b>inline html</b>.

    indented code

Wide: 日本語 🎉 and a verylongwordthatcannotfitanywhereonthelineatallsoitmustbefoldedbythewrapper.

### Fence closed late

```js
const a = 1;
"""

LATE = "const b = 2;\n```\n\nAfter the fence.\n"
NEVER_CLOSED = "```text\nnever closed\nstill open"


def reference(text: str) -> Markdown:
    """Textual's own Markdown with our one parser difference: raw HTML is text, not dropped."""
    from markdown_it import MarkdownIt

    return Markdown(text, parser_factory=lambda: MarkdownIt("gfm-like", {"html": False}))


class Harness(App):
    CSS = "Markdown { padding: 0; } VerticalScroll { height: auto; }"

    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield self.widget


def cells(app: App) -> list[tuple[str, list[tuple]]]:
    """The screen, row by row: text, and per cell (char, fg, bg, bold, italic, underline, strike)."""
    rows = []
    for strip in screen_strips(app.screen):
        row = []
        for text, style, _ in strip:
            key = (None, None, False, False, False, False) if style is None else (
                style.color, style.bgcolor, bool(style.bold), bool(style.italic),
                bool(style.underline), bool(style.strike))
            row.extend((char, *key) for char in text)
        rows.append((strip.text, row))
    return rows


def assert_same_screen(expected, actual) -> None:
    texts = [text for text, _ in expected], [text for text, _ in actual]
    assert texts[1] == texts[0]
    for y, ((_, row_a), (_, row_b)) in enumerate(zip(expected, actual)):
        assert row_b == row_a, f"styles differ on row {y}"


async def static_screen(text: str, size=SIZE, theme: str | None = None):
    app = Harness(reference(text))
    async with app.run_test(size=size) as pilot:
        if theme:
            app.theme = theme
        await pilot.pause()
        return cells(app)


def random_chunks(text: str, seed: int, largest: int = 40) -> list[str]:
    rng = random.Random(seed)
    chunks, i = [], 0
    while i < len(text):
        n = rng.randint(1, largest)
        chunks.append(text[i : i + n])
        i += n
    return chunks


async def stream(pilot, widget: StreamingMarkdown, chunks: list[str], seed: int) -> None:
    rng = random.Random(seed)
    for chunk in chunks:
        widget.append(chunk)
        if rng.random() < 0.15:
            await pilot.pause()  # let frames happen mid-stream: freezing, live tail, live table


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_splits_keep_every_character_and_look_static(seed):
    text = MIX + LATE
    expected = await static_screen(text)
    widget = StreamingMarkdown(streaming=True)
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        await stream(pilot, widget, random_chunks(text, seed), seed)
        assert widget.text == text
        await widget.finish()
        await pilot.pause()
        assert widget.text == text
        assert widget.rendered
        assert_same_screen(expected, cells(app))


async def test_one_character_at_a_time():
    text = MIX[:600] + "\n\n```\nx\n```\n"
    expected = await static_screen(text)
    widget = StreamingMarkdown(streaming=True)
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        await stream(pilot, widget, list(text), 4)
        await widget.finish()
        await pilot.pause()
        assert widget.text == text
        assert_same_screen(expected, cells(app))


async def test_fence_never_closed_renders_like_static():
    text = MIX + LATE + NEVER_CLOSED
    expected = await static_screen(text)
    widget = StreamingMarkdown(streaming=True)
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        await stream(pilot, widget, random_chunks(text, 5), 5)
        await widget.finish()
        await pilot.pause()
        assert_same_screen(expected, cells(app))


async def test_mid_stream_screen_matches_static_render_of_the_prefix():
    """While streaming, what is on screen is what Markdown would show for the text so far:
    frozen blocks plus the live tail (an open fence runs to the end, a table grows)."""
    text = MIX
    cuts = [text.index("- two"), text.index("def f(x)") + 3, text.index("| three"), len(text) - 5]
    widget = StreamingMarkdown(streaming=True)
    app = Harness(widget)
    screens = []
    async with app.run_test(size=SIZE) as pilot:
        done = 0
        for cut in cuts:
            for chunk in random_chunks(text[done:cut], cut):
                widget.append(chunk)
            done = cut
            await widget.flush()
            await pilot.pause()
            screens.append(cells(app))
    for cut, screen in zip(cuts, screens):
        assert_same_screen(await static_screen(text[:cut]), screen)


async def test_fence_closed_late_renders_right_after_finish():
    text = MIX + LATE
    widget = StreamingMarkdown(streaming=True)
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        widget.append(MIX)
        await widget.flush()
        await pilot.pause()
        open_fence = "\n".join(row for row, _ in cells(app))
        assert "After the fence." not in open_fence
        widget.append(LATE)
        await widget.finish()
        await pilot.pause()
        after = cells(app)
    assert_same_screen(await static_screen(text), after)
    assert any(row.strip() == "After the fence." for row, _ in after)


async def test_hostile_markup_is_shown_literally():
    text = "Say [bold]x[/bold] then [/INST] and [/mnt/data] and [red]red[/] and [@click=app.quit]q[/]\n"
    widget = StreamingMarkdown(streaming=True)
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        for chunk in random_chunks(text, 9, 3):
            widget.append(chunk)
        await widget.finish()
        await pilot.pause()
        shown = "\n".join(row for row, _ in cells(app))
    for literal in ("[bold]x[/bold]", "[/INST]", "[/mnt/data]", "[red]red[/]", "[@click=app.quit]q[/]"):
        assert literal in shown


async def test_static_text_matches_markdown():
    expected = await static_screen(MIX + LATE)
    app = Harness(StreamingMarkdown(MIX + LATE))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert_same_screen(expected, cells(app))


async def test_long_static_text_is_parsed_in_a_worker(monkeypatch):
    monkeypatch.setattr(sm_module, "PARSE_IN_THREAD", 2_000)
    text = "".join(markdown_mix.generate(600, 3))
    assert len(text) > 2_000
    expected = await static_screen(text)
    widget = StreamingMarkdown(text)
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert widget.rendered
        assert_same_screen(expected, cells(app))


async def test_widget_count_stays_bounded():
    chunks = markdown_mix.generate(5000, 1)
    text = "".join(chunks)
    widget = StreamingMarkdown(streaming=True)
    app = Harness(widget)
    async with app.run_test(size=(100, 40)) as pilot:
        for n, chunk in enumerate(chunks):
            widget.append(chunk)
            if n % 500 == 0:
                await pilot.pause()
        await widget.finish()
        await pilot.pause()
        assert widget.text == text
        blocks = sum(len(child.nodes) for child in widget.children if isinstance(child, sm_module._Blocks))
        assert blocks > 100
        descendants = list(widget.walk_children())
        assert len(descendants) <= 2 + blocks // sm_module.GROUP_BLOCKS + 2
        static = reference(text)
        static_app = Harness(static)
    async with static_app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert len(list(static.walk_children())) > 10 * len(descendants)


async def test_resize_and_theme_change_repaint_like_static():
    text = MIX + LATE
    widget = StreamingMarkdown(text)
    app = Harness(widget)
    async with app.run_test(size=(100, 150)) as pilot:
        await pilot.pause()
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        resized = cells(app)
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.pause()
        light = cells(app)
    assert_same_screen(await static_screen(text), resized)
    assert_same_screen(await static_screen(text, theme="textual-light"), light)


async def test_finish_with_a_different_full_text_shows_the_full_text():
    widget = StreamingMarkdown(streaming=True)
    app = Harness(widget)
    final = "# Final\n\nThe committed text wins.\n"
    async with app.run_test(size=SIZE) as pilot:
        widget.append("# Draft\n\nSomething else entirely.\n\nmore\n")
        await widget.flush()
        await widget.finish(final)
        await pilot.pause()
        assert widget.text == final
        screen = cells(app)
    assert_same_screen(await static_screen(final), screen)


async def test_update_replaces_the_document():
    widget = StreamingMarkdown("old text\n")
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        await widget.update(MIX)
        await pilot.pause()
        screen = cells(app)
    assert_same_screen(await static_screen(MIX), screen)


async def test_selection_copies_the_text():
    widget = StreamingMarkdown("# Head\n\n- item one\n- item two\n\nplain **text**\n")
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.screen.selections = {node: SELECT_ALL for node in (widget, *widget.query("*"))}
        await pilot.pause()
        selected = app.screen.get_selected_text() or ""
    for words in ("Head", "item one", "item two", "plain text"):
        assert words in selected


class TwoContexts(App):
    """Replies in two places whose app CSS differs: each must look like a Markdown there."""

    CSS = """
    Markdown { padding: 0; }
    VerticalScroll { height: auto; }
    .special MarkdownParagraph { color: red; text-style: italic; }
    .special MarkdownBulletList { background: blue 30%; }
    """

    def __init__(self, make) -> None:
        super().__init__()
        self.make = make

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with VerticalScroll():
            with Vertical(classes="special"):
                yield self.make()
            with Vertical():
                yield self.make()


async def test_app_css_applies_per_place_in_the_dom():
    text = "Para with `code`.\n\n- a bullet\n- another\n\n> quoted\n"
    static_app = TwoContexts(lambda: reference(text))
    async with static_app.run_test(size=(60, 40)) as pilot:
        await pilot.pause()
        expected = cells(static_app)
    app = TwoContexts(lambda: StreamingMarkdown(text))
    async with app.run_test(size=(60, 40)) as pilot:
        await pilot.pause()
        assert_same_screen(expected, cells(app))


async def test_raw_html_in_a_reply_is_shown_not_dropped():
    """A model writing `<div>` or `<b>` must not make words disappear from the screen."""
    from textual.app import App

    from muxtui.ui.markdown import StreamingMarkdown

    text = "before <b>bold?</b> after\n\n<div>a whole block</div>\n\nend"

    class Host(App):
        def compose(self):
            yield StreamingMarkdown(text)

    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        await pilot.pause()
        widget = app.query_one(StreamingMarkdown)
        await widget.finish(text)
        await pilot.pause()
        screen = "\n".join(strip.text for strip in screen_strips(app.screen))
    for words in ("<b>bold?</b>", "<div>a whole block</div>", "before", "end"):
        assert words in screen, words
