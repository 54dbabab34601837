"""A Markdown widget fed incrementally while a reply streams, and cheap to show when finished.

Interface (kept stable for the chat pane):
    w = StreamingMarkdown(text="", streaming=True)
    w.append(chunk)          # cheap, sync, non-blocking; bursts are coalesced into one frame
    await w.finish(full)     # stop streaming, render the final text (late-closed fences fixed)
    w.text                   # everything appended so far

Why not Textual's ``Markdown`` + ``get_stream``: every block there is a widget (a five-item
list is ~20), and each append re-splits the whole document, so a long reply grows to thousands
of widgets and the event loop stalls for seconds (numbers in bench/). Here:

* **Blocks are painted, not mounted.** Parsed blocks become small ``_Node`` trees, painted
  into lines with Textual's own code (``Content.render_strips`` for text, ``StylesCache``
  for padding, borders and backgrounds). The styles come from the real Markdown block classes,
  resolved by the app's stylesheet at this widget's place in the DOM (``_Styler``): theme,
  dark/light, ANSI mode and app CSS apply exactly as to a mounted ``MarkdownParagraph``, and
  the result is cell-for-cell what ``Markdown`` shows (tests/test_streaming_markdown.py).
  Only a top-level block holding a table is left to a real ``Markdown`` (grids are Textual's).
* **Finished blocks freeze.** CommonMark is line-incremental: once a later top-level block
  has started on a complete line, every earlier one is final. Final blocks are parsed once,
  painted once and then kept only as their painted lines (tuples the garbage collector does
  not track) plus their source; only the open block and the partial last line are re-parsed
  each frame. A ``_Blocks`` widget holds up to ``GROUP_BLOCKS`` blocks, frozen and live
  together, so freezing never changes a widget's height; while streaming its height grows in
  steps of ``RESERVE`` lines. Both matter because Textual repaints the whole chat pane on a
  layout change, and only the changed lines on a plain refresh.
* **Appends are coalesced; bursts are bounded.** ``append`` only stores the chunk; one flush
  per frame (``FRAME``) renders it. A flush takes a window of about a character budget
  (adapted to keep each step near ``STEP_TARGET``), so a fast model or a long text at once is
  rendered over several frames and the event loop never stalls; big tails are parsed in a
  thread.
* **Every step makes progress, whatever it cost** (a loaded machine only makes steps
  smaller): it freezes a block, reaches the end, or, when the open block fills the window,
  doubles the next window. An open block past ``LIVE_MAX`` (a table past ``TABLE_MAX``)
  is not re-styled every frame: it becomes a ``_PlainBlock``, its Markdown source folded at
  the width and extended by ``PLAIN_STEP`` characters a step; a line scanner (``_Scanner``)
  finds where it ends without parsing it. Once closed, a plain block up to ``STYLE_MAX`` is
  parsed and painted in a thread and then shown styled, exactly as a small block; tables
  and longer blocks stay plain. So any reply renders completely, in time linear in its
  length, and nothing is left out.

The widget count is about blocks/64 + tables, whatever the reply length.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Iterable

from markdown_it import MarkdownIt
from markdown_it.token import Token
from rich.cells import cell_len, get_character_cell_size
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual._styles_cache import StylesCache
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.content import Content
from textual.events import Mount
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import RenderOptions
from textual.widget import Widget
from textual.widgets import Label, Markdown, Static
from textual.widgets._markdown import MarkdownBlock, MarkdownBullet, MarkdownFence

__all__ = ["StreamingMarkdown"]

FRAME = 1 / 30  # at most one flush per frame while streaming
PARSE_IN_THREAD = 16_384  # tails (or whole texts) at least this long are parsed off the loop
GROUP_BLOCKS = 64  # top-level blocks per frozen group
RESERVE = 4  # while streaming, a group's height grows in steps of this many lines
STEP_TARGET = 0.020  # seconds of work per flush step; the character budget adapts to it
BUDGET_START, BUDGET_MIN, BUDGET_MAX = 4_096, 1_024, 262_144  # characters per step
LIVE_MAX = 4_096  # a larger block is shown plain first (_PlainBlock), styled once closed
TABLE_MAX = 2_048  # a larger table stays plain: Textual's grid costs ~10 ms a row to mount
PLAIN_STEP = 262_144  # characters of a plain block read per step
STYLE_MAX = 131_072  # a plain block up to this long is styled later, in a thread
SLOW_FRAME = 1.0  # a slow step stretches the frame up to this (it never stops progress)
LAYOUT_EVERY = 0.25  # seconds between refreshes while catching up on a burst
_clock = time.monotonic  # step costs are measured with this (tests fake a slow machine)
_REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:", re.M)

_tls = threading.local()
# One thread parses and paints off the loop for every widget: its allocator arena is reused
# from reply to reply, where a pool of fresh threads would each keep one (RSS that stays).
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="muxtui-markdown")


async def _off_loop(function: Any, *args: Any) -> Any:
    # With this task's context, as asyncio.to_thread does: Textual resolves theme variables
    # ("$text-accent" in highlighted code) through the active app's context variable.
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_WORKER, context.run, function, *args)


_WARM_UP_TEXT = "# a\n\n- b **c** `d` https://example.com\n\n```python\nx = 1\n```\n"


def _new_parser() -> MarkdownIt:
    # Raw HTML in a model's reply is shown as text: Textual's Markdown drops html tokens, so
    # `<div>...</div>` would silently vanish from the screen (the stored text is untouched).
    return MarkdownIt("gfm-like", {"html": False})


def _default_parser() -> MarkdownIt:
    parser = getattr(_tls, "parser", None)
    if parser is None:
        parser = _tls.parser = _new_parser()
    return parser


def _warm_up() -> MarkdownIt:
    """First use costs ~0.2 s (pygments lexer imports, linkify regexes): pay it in a thread."""
    parser = _new_parser()
    parser.parse(_WARM_UP_TEXT)
    MarkdownFence.highlight("x = 1", "python")
    MarkdownFence.highlight("x = 1", "")
    return parser


def _inline_content(token: Token) -> Content:
    # Textual's own inline conversion (styles as ".strong", ".code_inline", links as @click
    # meta), so text is literal: no console markup is ever parsed.
    return MarkdownBlock._token_to_content(None, token)  # type: ignore[arg-type]


# ---- parsed blocks ------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Node:
    """One Markdown block, as Textual's Markdown would build it, minus the widgets."""

    kind: str  # "p", "h1".."h6", "hr", "quote", "ul", "ol", "li", "fence"
    level: int = 0
    content: Content | None = None
    children: list["_Node"] = field(default_factory=list)
    bullet: str = ""  # list items: the symbol (ordered: the number markdown-it saw)
    code: str = ""
    lexer: str = ""
    highlighted: tuple[Any, Content] | None = None  # ((ansi, dark), content)
    painted: tuple[Any, "_Box"] | None = None  # ((width, epoch), box)
    source: str | None = None  # top-level blocks: their Markdown, to rebuild them once released
    released: bool = False

    def release(self) -> None:
        """Drop the parsed tree once painted (kept: kind, margins' keys, source, painted lines).
        A width or theme change re-parses `source`; until then the block is just its lines."""
        if self.source is not None:
            self.content = self.highlighted = None
            self.children = []
            self.released = True


@dataclass(eq=False, slots=True)
class _Fallback:
    """A top-level block Textual must render itself (it holds a table)."""

    source: str
    kind: str  # the top-level kind, for its margins


@dataclass(slots=True)
class _Box:
    strips: list  # Strips while painting; Line tuples once cached (see _Painter.paint)
    margin_top: int
    margin_bottom: int


Piece = _Node | _Fallback


def _top_level_spans(tokens: list[Token]) -> list[tuple[int, int]]:
    """(start, end) token index ranges of each top-level block."""
    spans: list[tuple[int, int]] = []
    depth = 0
    start = 0
    for i, token in enumerate(tokens):
        if depth == 0:
            start = i
        depth += token.nesting
        if depth == 0:
            spans.append((start, i + 1))
    if depth and start < len(tokens):
        spans.append((start, len(tokens)))
    return spans


def _build(tokens: list[Token], bullets: list[str]) -> list[_Node]:
    """Mirror of ``Markdown._parse_markdown`` for one top-level block (pure: thread-safe)."""
    out: list[_Node] = []
    stack: list[_Node] = []

    def attach(node: _Node) -> None:
        if stack:
            stack[-1].children.append(node)
        else:
            out.append(node)

    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            stack.append(_Node(token.tag, token.level))
        elif kind == "hr":
            attach(_Node("hr", token.level))
        elif kind == "paragraph_open":
            stack.append(_Node("p", token.level))
        elif kind == "blockquote_open":
            stack.append(_Node("quote", token.level))
        elif kind == "bullet_list_open":
            stack.append(_Node("ul", token.level))
        elif kind == "ordered_list_open":
            stack.append(_Node("ol", token.level))
        elif kind == "list_item_open":
            if token.info:
                stack.append(_Node("li", token.level, bullet=token.info))
            else:
                depth = sum(1 for node in stack if node.kind == "li" and not node.bullet[:1].isdigit())
                stack.append(_Node("li", token.level, bullet=bullets[depth % len(bullets)]))
        elif kind.endswith("_close"):
            if stack:
                attach(stack.pop())
        elif kind == "inline":
            if stack:
                stack[-1].content = _inline_content(token)
        elif kind in ("fence", "code_block"):
            attach(_Node("fence", token.level, code=token.content.rstrip(), lexer=token.info))
    while stack:  # an unclosed container (only from a truncated token list)
        attach(stack.pop())
    return out


_NEWLINE = re.compile(r"\r\n?|\n")


def _line_starts(text: str) -> list[int]:
    """Offsets where each line starts, counting lines as markdown-it does (\r\n, \r, \n)."""
    if "\r" in text:
        return [0] + [m.end() for m in _NEWLINE.finditer(text)]
    starts = [0]
    find = text.find
    i = find("\n")
    while i != -1:
        starts.append(i + 1)
        i = find("\n", i + 1)
    return starts


def parse_pieces(
    parser: MarkdownIt, text: str, bullets: list[str], *, keep_last_open: bool
) -> tuple[list[Piece], int]:
    """Parse `text` into pieces. With keep_last_open, the last top-level block is left out and
    the returned offset is where it starts (everything before is final); else len(text)."""
    tokens = parser.parse(text)
    spans = _top_level_spans(tokens)
    end = len(text)
    starts = _line_starts(text)

    def offset(line: int) -> int:
        return starts[line] if line < len(starts) else len(text)

    if keep_last_open:
        if not spans:
            return [], 0
        last = tokens[spans[-1][0]]
        if last.map is None:
            return [], 0
        end = offset(last.map[0])
        spans = spans[:-1]
    pieces: list[Piece] = []
    for a, b in spans:
        block = tokens[a:b]
        first = block[0].map
        source = None if first is None else text[offset(first[0]) : offset(first[1])]
        if any(t.type == "table_open" for t in block):
            kind = {"bullet_list_open": "ul", "ordered_list_open": "ol", "blockquote_open": "quote"}.get(
                block[0].type, "table"
            )
            pieces.append(_Fallback(source or "", kind))
        else:
            nodes = _build(block, bullets)
            if len(nodes) == 1:
                nodes[0].source = source
            pieces.extend(nodes)
    return pieces, end


# ---- styles -------------------------------------------------------------------------------


class _NotResolved(LookupError):
    """A style path met while painting in a thread that was not resolved beforehand."""


def _style_paths(nodes: list["_Node"]) -> set[tuple]:
    """Every style path _Painter._paint looks up for these top-level nodes (pure)."""
    paths: set[tuple] = set()

    def walk(node: _Node, path: tuple) -> None:
        paths.add(path)
        kind = node.kind
        if kind == "fence":
            paths.add(path + (("code", 0),))
        elif kind in ("quote", "li"):
            for child in node.children:
                walk(child, path + ((child.kind, child.level),))
        elif kind in ("ul", "ol"):
            row = path + (("row", 0),)
            column = row + (("col", 0),)
            paths.update((row, row + (("bullet", 0),), column))
            for item in node.children:
                for child in item.children:
                    walk(child, column + ((child.kind, child.level),))

    for node in nodes:
        walk(node, ((node.kind, node.level),))
    return paths


class _Resolved:
    """Resolved styles shared by every StreamingMarkdown in the same context (see _Styler)."""

    def __init__(self, anchor: "StreamingMarkdown") -> None:
        self.anchor = anchor  # the host whose place in the DOM the detached nodes hang from
        self.nodes: dict[tuple, Widget] = {}
        self.looks: dict[tuple, _Look] = {}


_RESOLVED: "weakref.WeakKeyDictionary[Any, dict[Any, _Resolved]]" = weakref.WeakKeyDictionary()
_BLOCK_NAMES = {
    "p": "paragraph_open", "hr": "hr", "quote": "blockquote_open", "ul": "bullet_list_open",
    "ol": "ordered_list_open", "table": "table_open",
    "h1": "h1", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h5", "h6": "h6",
}


class _Styler:
    """Resolves the CSS a mounted Markdown block would get at this place in the DOM.

    Each style path (e.g. bullet list > row > column > paragraph) gets one detached instance
    of the real block class, parented (not mounted) under a host, and the app's stylesheet is
    applied to it. Detached nodes are invisible to queries, layout and events. Hosts in the
    same context (same ancestors' types, ids and classes, same theme and background) share
    the result, so a chat of forty replies resolves its styles once.
    """

    def __init__(self, host: "StreamingMarkdown") -> None:
        self.host = host
        self.epoch = 0
        self._resolved: _Resolved | None = None
        self._host_look: _Look | None = None
        self._fingerprint: Any = None
        self._owner = threading.get_ident()  # resolving styles touches the DOM: this thread only

    def fingerprint(self) -> Any:
        host = self.host
        app = host.app
        return (
            id(app.stylesheet.rules),
            app.theme,
            app.native_ansi_color,
            host.background_colors,
            host.visual_style,
            tuple((type(n).__name__, n.id, frozenset(n.classes)) for n in host.ancestors_with_self[1:]),
            type(host),
        )

    def check(self) -> bool:
        """Drop resolved styles if anything they depend on changed; True if it did."""
        fingerprint = self.fingerprint()
        if fingerprint == self._fingerprint and self._resolved is not None:
            return False
        self._fingerprint = fingerprint
        shared = _RESOLVED.setdefault(self.host.app, {})
        if len(shared) > 32:
            shared.clear()
        resolved = shared.get(fingerprint)
        if resolved is None or not resolved.anchor.is_attached:
            resolved = shared[fingerprint] = _Resolved(self.host)
        self._resolved = resolved
        self._host_look = None
        self.epoch += 1
        return True

    @property
    def resolved(self) -> _Resolved:
        if self._resolved is None:
            self.check()
        assert self._resolved is not None
        return self._resolved

    def look(self, path: tuple) -> "_Look":
        resolved = self.resolved
        look = resolved.looks.get(path)
        if look is None:
            if threading.get_ident() != self._owner:
                raise _NotResolved(path)  # painting off the loop: see _PlainBlock._style
            look = resolved.looks[path] = _Look(self.node(path))
        return look

    def host_look(self) -> "_Look":
        if self._host_look is None:
            self._host_look = _Look(self.host)
        return self._host_look

    def _make(self, kind: str, level: int) -> Widget:
        """A detached instance of the widget class Textual's Markdown would mount."""
        host = self.host
        block = _BLOCK_NAMES.get(kind)
        if block is not None:
            return host.get_block_class(block)(host, Token(kind, "", 1, level=level))
        if kind == "fence":  # "text": no lexer guessing for the empty sample code
            return host.get_block_class("fence")(host, Token("fence", "code", 0, level=level, info="text"), "")  # type: ignore[call-arg]
        if kind == "code":
            return Label(id="code-content", expand=True)
        if kind == "row":
            return Horizontal()
        if kind == "col":
            return Vertical()
        if kind == "bullet":
            return MarkdownBullet()
        raise KeyError(kind)

    def _register_css(self) -> None:
        """Add the DEFAULT_CSS of every class we resolve, in one go (as mounting would): each
        new source makes the app re-parse its whole stylesheet on the next lookup."""
        host = self.host
        classes = [host.get_block_class(name) for name in _BLOCK_NAMES.values()]
        classes += [host.get_block_class("fence"), Label, Horizontal, Vertical, MarkdownBullet]
        add_source = host.app.stylesheet.add_source
        for cls in classes:
            # DOMNode._get_default_css only reads _node_bases: no instance needed.
            bases = SimpleNamespace(_node_bases=cls._css_bases(cls))
            for read_from, css, tie_breaker, scope in DOMNode._get_default_css(bases):  # type: ignore[arg-type]
                add_source(css, read_from=read_from, is_default_css=True, tie_breaker=tie_breaker, scope=scope)

    def node(self, path: tuple) -> Widget:
        resolved = self.resolved
        found = resolved.nodes.get(path)
        if found is not None:
            return found
        if not resolved.nodes:
            self._register_css()
        parent = self.node(path[:-1]) if len(path) > 1 else resolved.anchor
        node = self._make(*path[-1])
        node._attach(parent)
        self.host.app.stylesheet.apply(node)
        resolved.nodes[path] = node
        return node


# ---- painting -----------------------------------------------------------------------------


class _Look:
    """Everything painting needs from one resolved style node, computed once per style epoch."""

    __slots__ = (
        "widget", "styles", "margin", "gutter", "auto_width", "expand", "shrink", "fixed_height",
        "min_height", "base_background", "background", "visual_style", "rich_style", "inner_style",
        "blank_first", "blank_rest", "simple", "link_style", "auto_links", "align", "get_style",
    )

    def __init__(self, widget: Widget) -> None:
        self.widget = widget
        styles = self.styles = widget.styles
        self.margin = styles.margin
        gutter = self.gutter = styles.gutter
        border_box = styles.box_sizing == "border-box"
        self.auto_width = styles.width is not None and styles.width.is_auto
        self.expand = widget.expand
        self.shrink = widget.shrink
        self.fixed_height = None
        if styles.height is not None and styles.height.is_cells:
            self.fixed_height = max(0, int(styles.height.value) - (gutter.height if border_box else 0))
        self.min_height = None
        if styles.min_height is not None and styles.min_height.is_cells:
            self.min_height = int(styles.min_height.value) - (gutter.height if border_box else 0)
        base_background, background = self.base_background, self.background = widget.background_colors
        self.visual_style = widget.visual_style
        self.rich_style = self.visual_style.rich_style
        self.inner_style = VisualStyle(background=base_background + background).rich_style
        # A container's own blank content under its children (see _Look.blank).
        if isinstance(widget, Static):
            self.blank_first, self.blank_rest = self.inner_style, self.rich_style
        else:
            plain = RichStyle.from_color(bgcolor=background.rich_color)
            self.blank_first = self.blank_rest = plain
        # No padding, border, outline or effects: Textual's StylesCache would only pad lines.
        self.simple = (
            not gutter.width and not gutter.height and not any(edge for edge, _ in styles.outline)
            and styles.tint.a == 0 and widget.opacity == 1 and styles.text_opacity == 1
            and (not styles.has_rule("hatch") or styles.hatch == "none")
        )
        self.auto_links = widget.auto_links and not widget.is_container
        self.link_style = widget.link_style if self.auto_links else None
        self.align = styles.content_align
        self.get_style = widget._get_style

    def blank(self, width: int, y: int) -> Strip:
        """Line `y` of a container's own (empty) content, as Textual renders it under children.

        Plain containers render ``Blank(background)``; a Static container (blockquote, list,
        fence) renders its empty content: one empty line padded with the background, then
        blank lines in its full visual style.
        """
        return Strip.blank(width, self.blank_rest if y else self.blank_first)

    def text(self, content: Content, width: int, links: bool = True) -> list[Strip]:
        """Content wrapped to `width`, as ``Visual.to_strips`` renders a Static."""
        if not width:
            return []
        strips = content.render_strips(width, None, self.visual_style, RenderOptions(self.get_style, self.styles))
        if self.link_style is not None and links:
            strips = [strip._apply_link_style(self.link_style) for strip in strips]
        if self.align != ("left", "top") and strips:
            horizontal, vertical = self.align
            style = (self.visual_style + VisualStyle(reverse=False)).rich_style
            strips = list(Strip.align(strips, style, width, len(strips), horizontal, vertical))
        return strips

    def box(self, lines: list[Strip], box_width: int, content_width: int) -> list[Strip]:
        """Padding, border and background around content lines, as Textual paints a widget."""
        height = len(lines) if self.fixed_height is None else self.fixed_height
        if self.min_height is not None:
            height = max(height, self.min_height)
        if self.simple:
            inner = self.inner_style
            out = [line.adjust_cell_length(content_width, inner) for line in lines[:height]]
            if len(out) < height:
                out.extend([Strip.blank(content_width, self.rich_style)] * (height - len(out)))
            return out
        blank = Strip.blank(content_width, self.rich_style)
        count = len(lines)
        app = self.widget.app
        return StylesCache().render(
            self.styles,
            Size(box_width, height + self.gutter.height),
            self.base_background,
            self.background,
            lambda y: lines[y] if y < count else blank,
            [],
            None,
            None,
            content_size=Size(content_width, height),
            padding=self.styles.padding,
            opacity=self.widget.opacity,
            ansi_theme=app.ansi_theme,
            native_ansi=app.native_ansi_color,
        )

    def fit(self, optimal: int, inner: int) -> int:
        """Content width of a `width: auto` node (Widget.get_content_width)."""
        width = optimal
        if self.expand:
            width = max(inner, width)
        if self.shrink:
            width = min(width, inner)
        return max(0, width)


Line = tuple  # a painted line: ((text, style index), ...): no objects for the GC to walk


class _StyleTable:
    """Rich styles of painted lines, by index; one per painter and style epoch.

    Content gives every segment its own style carrying its (x, y) offset (for text
    selection). Kept for thousands of lines, that is tens of thousands of live objects the
    garbage collector walks on every full collection. Painted lines drop the offsets and refer
    to shared styles by index, so a line is a tuple of (str, int) tuples, which the collector
    does not track at all; _Blocks.render_line adds offsets back for the lines on screen.
    """

    def __init__(self) -> None:
        self.styles: list[RichStyle | None] = [None]
        self._index: dict[RichStyle, int] = {}
        self._plain: dict[RichStyle, int] = {}  # style with offset meta -> index (per paint)

    def line(self, segments: list[Segment]) -> Line:
        index = self._index
        styles = self.styles
        out = []
        for text, style, _control in segments:
            if style is None:
                out.append((text, 0))
                continue
            if style._meta is not None:
                meta = style.meta
                click = meta.get("@click")
                plain = style.clear_meta_and_links()
                if click is not None:
                    plain += RichStyle.from_meta({"@click": click})
                style = plain
            number = index.get(style)
            if number is None:
                number = index[style] = len(styles)
                styles.append(style)
            out.append((text, number))
        return tuple(out)


class _Painter:
    """Paints _Node trees to strips at a width, with cached results per (width, style epoch)."""

    def __init__(self, host: "StreamingMarkdown") -> None:
        self.host = host
        self.styler = _Styler(host)
        self._table = _StyleTable()
        self._table_epoch = -1

    @property
    def table(self) -> _StyleTable:
        """The style table of the current style epoch (lines of older epochs are repainted)."""
        if self._table_epoch != self.styler.epoch:
            self._table, self._table_epoch = _StyleTable(), self.styler.epoch
        return self._table

    def host_blank(self, width: int) -> Strip:
        return self.styler.host_look().blank(width, 0)

    def paint(self, node: _Node, width: int) -> _Box:
        """A top-level block's lines at `width`, as untracked tuples (see _StyleTable)."""
        key = (width, self.styler.epoch)
        painted = node.painted
        if painted is not None and painted[0] == key:
            return painted[1]
        tree = node
        if node.released:  # painted before, at another width or in another theme
            pieces, _ = parse_pieces(self.host._parser(), node.source or "", list(self.host.BULLETS),
                                     keep_last_open=False)
            tree = next((p for p in pieces if isinstance(p, _Node)), _Node("p"))
        box = self._paint(tree, ((node.kind, node.level),), width, self.styler.host_look())
        line = self.table.line
        box = _Box([line(strip._segments) for strip in box.strips], box.margin_top, box.margin_bottom)
        node.painted = (key, box)
        return box

    def margins(self, kind: str, level: int = 0) -> tuple[int, int]:
        margin = self.styler.look(((kind, level),)).margin
        return margin.top, margin.bottom

    def _paint(self, node: _Node, path: tuple, width: int, parent: _Look) -> _Box:
        """A block at `path` in a container (`parent`) whose content is `width` cells wide."""
        look = self.styler.look(path)
        margin = look.margin
        available = max(0, width - margin.left - margin.right)
        inner = max(0, available - look.gutter.width)
        content_width = inner
        kind = node.kind
        if kind == "fence":
            lines = self._fence(node, path, inner)
        elif kind in ("quote", "li"):
            lines = self._stack(node.children, path, look, inner)
        elif kind in ("ul", "ol"):
            lines = self._list(node, path, look, inner)
        else:
            content = node.content if node.content is not None else Content("")
            if look.auto_width:
                content_width = look.fit(content.get_optimal_width(look.styles, inner), inner)
            lines = look.text(content, content_width)
        box_width = content_width + look.gutter.width
        strips = look.box(lines, box_width, content_width)
        if margin.left or margin.left + box_width != width:
            style = parent.blank_rest
            left = Strip.blank(margin.left, style) if margin.left else None
            strips = [
                (Strip.join([left, strip]) if left else strip).adjust_cell_length(width, style)
                for strip in strips
            ]
        return _Box(strips, margin.top, margin.bottom)

    def _stack(self, children: list[_Node], path: tuple, parent: _Look, width: int) -> list[Strip]:
        """Children stacked vertically with collapsed margins (Textual's VerticalLayout)."""
        lines: list[Strip] = []
        previous_bottom: int | None = None
        for child in children:
            box = self._paint(child, path + ((child.kind, child.level),), width, parent)
            gap = box.margin_top if previous_bottom is None else max(previous_bottom, box.margin_top)
            lines.extend(parent.blank(width, len(lines) + n) for n in range(gap))
            lines.extend(box.strips)
            previous_bottom = box.margin_bottom
        if previous_bottom:
            lines.extend(parent.blank(width, len(lines) + n) for n in range(previous_bottom))
        return lines

    def _list(self, node: _Node, path: tuple, parent: _Look, width: int) -> list[Strip]:
        """A list: one Horizontal(bullet, Vertical(item blocks)) row per item."""
        items = [child for child in node.children if child.kind == "li"]
        if node.kind == "ol":
            start = 1
            if items:
                try:
                    start = int(items[0].bullet)
                except ValueError:
                    pass
            numbers = range(start, start + len(items))
            size = max((len(f"{n}. ") for n in numbers), default=0)
            symbols = [f"{n}. ".rjust(size + 1) for n in numbers]
        else:
            symbols = [item.bullet for item in items]
        styler = self.styler
        row_path = path + (("row", 0),)
        row = styler.look(row_path)
        bullet_look = styler.look(row_path + (("bullet", 0),))
        column_path = row_path + (("col", 0),)
        column_look = styler.look(column_path)
        bullet_fills = bullet_look.styles.height is None  # no height: fills the row (Horizontal)
        lines: list[Strip] = []
        for item, symbol in zip(items, symbols):
            symbol_content = Content(symbol)
            bullet_width = min(width, symbol_content.get_optimal_width(bullet_look.styles, width))
            column_width = max(0, width - bullet_width)
            column = column_look.box(
                self._stack(item.children, column_path, column_look, column_width), column_width, column_width
            )
            bullet_lines = bullet_look.text(symbol_content, bullet_width)
            if bullet_fills and len(bullet_lines) < len(column):
                bullet_blank = Strip.blank(bullet_width, bullet_look.rich_style)
                bullet_lines = bullet_lines + [bullet_blank] * (len(column) - len(bullet_lines))
            bullet = bullet_look.box(bullet_lines, bullet_width, bullet_width)
            row_lines = []
            for y in range(max(len(bullet), len(column))):
                left = bullet[y] if y < len(bullet) else row.blank(bullet_width, y)
                right = column[y] if y < len(column) else row.blank(column_width, y)
                row_lines.append(Strip.join([left, right]))
            lines.extend(row.box(row_lines, width, width))
        return lines

    def _fence(self, node: _Node, path: tuple, width: int) -> list[Strip]:
        """MarkdownFence > Label: no wrapping, clipped at the fence's width."""
        app = self.host.app
        flags = (app.native_ansi_color, app.current_theme.dark)
        if node.highlighted is None or node.highlighted[0] != flags:
            fence_class = self.host.get_block_class("fence")
            code = fence_class.highlight(node.code, node.lexer, ansi=flags[0], dark=flags[1])  # type: ignore[attr-defined]
            node.highlighted = (flags, code)
        code = node.highlighted[1]
        label = self.styler.look(path + (("code", 0),))
        gutter = label.gutter
        inner = max(0, width - gutter.width)
        content_width = label.fit(code.get_optimal_width(label.styles, inner), inner)
        # Highlighted code holds no links: skip restyling every segment for them.
        strips = label.box(label.text(code, content_width, links=False), content_width + gutter.width, content_width)
        return [strip.crop(0, width).adjust_cell_length(width) for strip in strips]


# ---- widgets ------------------------------------------------------------------------------


def _line_strip(widget: Widget, line: Line, styles: list, y: int, width: int) -> Strip:
    """A painted line as a Strip, with offsets (and the selection) for mouse selection."""
    # Offsets (character index in this line, line index) make mouse selection work over
    # the whole widget; get_selection extracts from the same lines.
    selection = widget.text_selection
    span = selection.get_span(y) if selection is not None else None
    start = end = 0
    selected: RichStyle | None = None
    if span is not None:
        start, end = span
        if end == -1:
            end = width * 4
        selected = VisualStyle.from_styles(widget.screen.get_component_styles("screen--selection")).rich_style
    from_meta = RichStyle.from_meta
    out: list[Segment] = []
    x = 0
    for text, number in line:
        style = styles[number]
        length = len(text)
        if selected is None or x + length <= start or x >= end:
            meta = from_meta({"offset": (x, y)})
            out.append(Segment(text, style + meta if style else meta))
        else:
            cut1, cut2 = max(0, start - x), min(length, end - x)
            for a, b, extra in ((0, cut1, None), (cut1, cut2, selected), (cut2, length, None)):
                if a < b:
                    part = from_meta({"offset": (x + a, y)})
                    if extra is not None:
                        part = extra + part
                    out.append(Segment(text[a:b], style + part if style else part))
        x += length
    return Strip(out, width)


class _Blocks(Widget):
    """A run of top-level blocks painted into lines: one widget, however many blocks.

    ``nodes`` are frozen (painted once, then released); ``live`` are the blocks still being
    written, re-parsed every frame. Keeping the live blocks in the same widget as the frozen
    ones means a block that freezes does not change any widget's height, and while streaming
    the height is rounded up to ``RESERVE`` lines: Textual repaints the whole chat pane on
    every layout change, so layouts happen once per few new lines instead of every frame.
    """

    DEFAULT_CSS = """
    _Blocks { height: auto; width: 1fr; }
    """

    def __init__(self, painter: _Painter, nodes: Iterable[_Node] = ()) -> None:
        super().__init__()
        self._painter = painter
        self.nodes: list[_Node] = list(nodes)
        self.live: list[_Node] = []
        self.reserve = 0
        self._lines: list[Line] = []  # frozen part
        self._live_lines: list[Line] = []
        self._key: Any = None
        self._live_key: Any = None
        self._painted = 0  # how many of self.nodes are in self._lines
        self._last_bottom = 0
        self._shape: Any = None
        self._apply_margins()

    # The first block's top margin and the last one's bottom margin go on the widget, so that
    # Textual collapses them with the neighbouring widgets exactly as between mounted blocks.
    def _apply_margins(self) -> None:
        blocks = self.nodes or self.live
        if not blocks:
            self.display = False
            return
        first, last = blocks[0], (self.live or self.nodes)[-1]
        top, _ = self._painter.margins(first.kind, first.level)
        _, bottom = self._painter.margins(last.kind, last.level)
        self.styles.margin = (top, 0, bottom, 0)
        self.display = True

    def freeze(self, nodes: list[_Node]) -> None:
        """Append frozen blocks (call commit() after)."""
        self.nodes.extend(nodes)

    def set_live(self, nodes: list[_Node], reserve: int = 0) -> None:
        """Replace the live blocks (call commit() after)."""
        self.live = list(nodes)
        self.reserve = reserve
        self._live_key = None

    def commit(self) -> None:
        """Refresh: with a layout pass only if the height, margins or display changed, else
        just the live lines (the frozen ones above did not change)."""
        old = self._shape
        frozen = len(self._lines)
        self._apply_margins()
        width = self.size.width
        if old is not None and width and self.display:
            self._ensure(width)  # blocks were painted in the flush: this only joins lines
            if self._shape == old:
                start = min(frozen, len(self._lines))
                self.refresh(Region(0, start, width, max(1, old[0] - start)))
                return
        self.refresh(layout=True)

    def restyle(self) -> None:
        self._key = self._live_key = None
        self._apply_margins()
        self.refresh(layout=True)

    def _ensure(self, width: int) -> int:
        """Paint what is not painted at `width` yet; returns the height in lines."""
        painter = self._painter
        key = (width, painter.styler.epoch)
        if key != self._key:
            self._key = key
            self._lines = []
            self._painted = 0
            self._last_bottom = 0
            self._live_key = None
        blank = None
        if self._painted < len(self.nodes):
            lines = self._lines
            blank = painter.table.line(painter.host_blank(width)._segments)
            for index in range(self._painted, len(self.nodes)):
                node = self.nodes[index]
                box = painter.paint(node, width)
                node.release()
                if index:
                    lines.extend([blank] * max(self._last_bottom, box.margin_top))
                lines.extend(box.strips)
                self._last_bottom = box.margin_bottom
            self._painted = len(self.nodes)
            self._live_key = None
        if self._live_key != key:
            self._live_key = key
            live: list[Line] = []
            if self.live:
                if blank is None:
                    blank = painter.table.line(painter.host_blank(width)._segments)
                previous = self._last_bottom if self.nodes else None
                for node in self.live:
                    box = painter.paint(node, width)
                    if previous is not None:
                        live.extend([blank] * max(previous, box.margin_top))
                    live.extend(box.strips)
                    previous = box.margin_bottom
                if self.reserve:
                    total = len(self._lines) + len(live)
                    live.extend([blank] * (-total % self.reserve))
            self._live_lines = live
        height = len(self._lines) + len(self._live_lines)
        self._shape = (height, self.styles.margin, self.display)
        return height

    def _line(self, width: int, y: int) -> Line | None:
        self._ensure(width)
        frozen = self._lines
        if y < len(frozen):
            return frozen[y]
        y -= len(frozen)
        live = self._live_lines
        return live[y] if 0 <= y < len(live) else None

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._ensure(width)

    def render_line(self, y: int) -> Strip:
        # The width of the last layout (Widget.size is costly per line).
        width = self._key[0] if self._key is not None else self.size.width
        line = self._line(width, y) if y >= 0 else None
        if line is None:
            return self._painter.host_blank(width)
        return _line_strip(self, line, self._painter.table.styles, y, width)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        width = self.size.width
        self._ensure(width)
        lines = self._lines + self._live_lines
        text = "\n".join("".join(text for text, _ in line).rstrip() for line in lines)
        return selection.extract(text), "\n"

    async def action_link(self, href: str) -> None:
        self.post_message(Markdown.LinkClicked(self._painter.host, href))


# ---- blocks too big to style in a frame -----------------------------------------------------

_FENCE_OPEN = re.compile(r" {0,3}(`{3,}(?=[^`\n]*$)|~{3,})")
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$", re.M)
_CONTINUES = re.compile(r"[ \t>]|[-+*](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*\|", re.M)  # a table's second line


class _Scanner:
    """Finds where a big top-level block ends, reading each line once (no Markdown parse).

    A top-level fence ends after its closing line. Anything else ends at the first line
    that, after a blank line, starts at column 0 and neither continues a list or a quote
    nor is indented: CommonMark closes every open paragraph, list, quote, table and
    indented code there. Fences opened inside the block are followed to their end, so a
    blank line in code is not taken for a boundary. Erring on the late side only makes the
    plain block longer; it never splits a block that Markdown would keep whole.
    """

    __slots__ = ("start", "pos", "fence", "top_fence", "blank")

    def __init__(self, text: str, start: int) -> None:
        self.start = start
        eol = text.find("\n", start)
        first = text[start : eol if eol != -1 else len(text)]
        opened = _FENCE_OPEN.match(first)
        self.fence = (opened.group(1)[0], len(opened.group(1))) if opened else None
        self.top_fence = self.fence is not None
        self.pos = start  # the next line to read (the first one is read here)
        self.blank = False
        if eol != -1:
            self.pos = eol + 1

    def scan(self, text: str, upto: int, final: bool) -> int | None:
        """Read the lines complete before `upto` (all of them if `final`); return the offset
        where the block ends, if that is known now."""
        pos = self.pos
        if self.fence is not None and self.top_fence:
            last = text.rfind("\n", pos, upto)
            stop = upto if final else last + 1
            if stop <= pos:
                return None
            char, size = self.fence
            for match in _FENCE_CLOSE.finditer(text, pos, stop):
                marker = match.group(1)
                if marker[0] == char and len(marker) >= size:
                    end = match.end()
                    return end + 1 if end < len(text) and text[end] == "\n" else end
            self.pos = stop
            return None
        find = text.find
        while pos < upto:
            eol = find("\n", pos, upto)
            if eol == -1:
                if not final:
                    break
                eol = upto
            line = text[pos:eol]
            if self.fence is not None:
                closing = _FENCE_CLOSE.match(line)
                if closing and closing.group(1)[0] == self.fence[0] and len(closing.group(1)) >= self.fence[1]:
                    self.fence = None
                self.blank = False
            elif not line.strip():
                self.blank = True
            else:
                if self.blank and not _CONTINUES.match(line):
                    self.pos = pos
                    return pos
                opened = _FENCE_OPEN.match(line)
                if opened:
                    self.fence = (opened.group(1)[0], len(opened.group(1)))
                self.blank = False
            pos = eol + 1
        self.pos = min(pos, upto)
        return None


class _Folder:
    """Text folded at a width, one character cell at a time: fed incrementally, never re-read."""

    __slots__ = ("width", "rows", "row", "cells", "nonblank")

    def __init__(self, width: int) -> None:
        self.width = max(1, width)
        self.rows: list[str] = []
        self.row = ""
        self.cells = 0
        self.nonblank = 0  # rows up to the last one with text (trailing blank lines hidden)

    def feed(self, text: str) -> None:
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        for index, part in enumerate(text.split("\n")):
            if index:
                self._push(self.row)
                self.row, self.cells = "", 0
            if part:
                self._add(part)

    def _push(self, row: str) -> None:
        self.rows.append(row)
        if row.strip():
            self.nonblank = len(self.rows)

    def _add(self, part: str) -> None:
        if "\t" in part:
            part = part.expandtabs(4)
        if not part.isprintable():
            part = _CONTROL.sub("\ufffd", part)
        width = self.width
        if part.isascii():
            room = width - self.cells
            if len(part) <= room:
                self.row += part
                self.cells += len(part)
                return
            self._push(self.row + part[:room])
            part = part[room:]
            full = len(part) - len(part) % width
            for start in range(0, full, width):
                self._push(part[start : start + width])
            self.row, self.cells = part[full:], len(part) - full
            return
        row, cells = [self.row], self.cells
        for character in part:
            size = get_character_cell_size(character)
            if cells + size > width and cells:
                self._push("".join(row))
                row, cells = [], 0
            row.append(character)
            cells += size
        self.row, self.cells = "".join(row), cells

    def lines(self, closed: bool) -> int:
        """How many rows to show: the partial row too while open; no trailing blank rows once closed."""
        if closed:
            return len(self.rows) + 1 if self.row.strip() else self.nonblank
        return len(self.rows) + (1 if self.row else 0)

    def line(self, y: int) -> str:
        return self.rows[y] if y < len(self.rows) else self.row


class _PlainBlock(Widget):
    """Blocks too big to style within a frame, shown first as their Markdown source folded at
    the width, and styled later in a thread.

    While the block is open, each step appends only the new text (a 50,000-line fence or a
    5 MB paragraph costs time linear in its length). Once it is closed and at most
    STYLE_MAX long, it is parsed and painted off the event loop (with styles resolved on the
    loop beforehand) and the styled lines replace the plain ones: the same lines a _Blocks
    would paint. Tables (Textual's grid) and longer blocks stay plain. Nothing is left out.
    """

    DEFAULT_CSS = """
    _PlainBlock { height: auto; width: 1fr; }
    """

    def __init__(self, painter: _Painter, kind: str = "p", source: str = "", closed: bool = False) -> None:
        super().__init__()
        self._painter = painter
        self.kind = kind
        self._parts: list[str] = [source] if source else []
        self.closed = closed
        self._folder: _Folder | None = None
        self._height = -1
        self._styled: tuple[Any, list[Line], list] | None = None  # (key, lines, styles)
        self._style_key: Any = None  # the (width, epoch) of the last styling attempt
        self._styling: asyncio.Task | None = None
        self.style_done = asyncio.Event()  # set when styled, or when it never will be
        self.unstylable = False
        top, bottom = painter.margins(kind)
        self.styles.margin = (top, 0, bottom, 0)

    @property
    def source(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @property
    def styled(self) -> bool:
        return self._styled is not None

    def feed(self, text: str, closed: bool = False) -> None:
        if text:
            self._parts.append(text)
            if self._folder is not None:
                self._folder.feed(text)
        self.closed = self.closed or closed

    def _apply_margins(self) -> None:
        pass  # set at creation, and by styling

    def commit(self) -> None:
        width = self.size.width
        if not width or self._folder is None or self._styled is not None:
            self.refresh(layout=True)
            return
        height = self._folder.lines(self.closed)
        if height != self._height:
            self._height = height
            self.refresh(layout=True)
        else:
            self.refresh(Region(0, max(0, height - 2), width, 2))
        if self.closed:
            self._want_style(width)

    def restyle(self) -> None:
        self.refresh(layout=True)

    def on_unmount(self) -> None:
        if self._styling is not None:
            self._styling.cancel()
        self.style_done.set()

    # ---- plain -------------------------------------------------------------------------------
    def _fold(self, width: int) -> _Folder:
        folder = self._folder
        if folder is None or folder.width != max(1, width):
            folder = self._folder = _Folder(width)
            folder.feed(self.source)
        return folder

    def _current(self, width: int) -> tuple[list[Line], list] | None:
        styled = self._styled
        if styled is not None and styled[0] == (width, self._painter.styler.epoch):
            return styled[1], styled[2]
        return None

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        current = self._current(width)
        if current is not None:
            self._height = len(current[0])
        else:
            self._height = self._fold(width).lines(self.closed)
            if self.closed:
                self._want_style(width)
        return self._height

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        current = self._current(width)
        if current is not None:
            lines, styles = current
            if 0 <= y < len(lines):
                return _line_strip(self, lines[y], styles, y, width)
            return self._painter.host_blank(width)
        folder = self._fold(width)
        blank = self._painter.host_blank(width)
        if not 0 <= y < folder.lines(self.closed):
            return blank
        style = blank._segments[0].style if blank._segments else None
        text = folder.line(y)
        meta = RichStyle.from_meta({"offset": (0, y)})
        return Strip([Segment(text, style + meta if style else meta)], cell_len(text)).adjust_cell_length(width, style)

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        current = self._current(self.size.width)
        if current is not None:
            rows = ["".join(text for text, _ in line).rstrip() for line in current[0]]
        else:
            folder = self._fold(self.size.width)
            rows = [folder.line(y) for y in range(folder.lines(self.closed))]
        return selection.extract("\n".join(rows)), "\n"

    def plain_text(self) -> str:
        """What is shown, as text (tests): the styled lines, or the source as folded."""
        current = self._current(self.size.width)
        if current is not None:
            return "\n".join("".join(text for text, _ in line) for line in current[0])
        folder = self._fold(self.size.width)
        return "\n".join(folder.line(y) for y in range(folder.lines(self.closed)))

    # ---- styled later ------------------------------------------------------------------------
    def _want_style(self, width: int) -> None:
        if not width or not self.is_attached:
            return
        key = (width, self._painter.styler.epoch)
        if self._style_key == key:
            return
        self._style_key = key
        source = self.source
        # A table stays plain (Textual's grid): do not even parse it.
        if self.unstylable or len(source) > STYLE_MAX or _TABLE_DELIMITER.search(source):
            self.unstylable = True
            self.style_done.set()
            return
        self.style_done.clear()
        if self._styling is not None:
            self._styling.cancel()
        self._styling = asyncio.get_running_loop().create_task(self._style(key))

    async def _style(self, key: tuple[int, int]) -> None:
        width, epoch = key
        painter = self._painter
        host = painter.host
        factory = host._parser_factory
        bullets = list(host.BULLETS)
        source = self.source

        def parse() -> tuple[list[_Node], set[tuple]] | None:
            parser = factory() if factory is not None else _default_parser()
            pieces, _ = parse_pieces(parser, source, bullets, keep_last_open=False)
            if not pieces or any(isinstance(piece, _Fallback) for piece in pieces):
                return None  # a table: Textual's grid, too big for it
            nodes = [piece for piece in pieces if isinstance(piece, _Node)]
            return nodes, _style_paths(nodes)

        def paint(nodes: list[_Node], look: _Look) -> tuple[list[Line], list, int, int]:
            table = _StyleTable()
            blank = table.line(look.blank(width, 0)._segments)
            lines: list[Line] = []
            top = previous = 0
            for index, node in enumerate(nodes):
                box = painter._paint(node, ((node.kind, node.level),), width, look)
                if index:
                    lines.extend([blank] * max(previous, box.margin_top))
                else:
                    top = box.margin_top
                lines.extend(table.line(strip._segments) for strip in box.strips)
                previous = box.margin_bottom
            return lines, table.styles, top, previous

        try:
            parsed = await _off_loop(parse)
            styler = painter.styler
            if parsed is None:
                self.unstylable = True
                return
            if styler.epoch != epoch:
                return
            nodes, paths = parsed
            for path in paths:  # resolving touches the DOM: here, on the loop
                styler.look(path)
            lines, styles, top, bottom = await _off_loop(paint, nodes, styler.host_look())
        except asyncio.CancelledError:
            raise
        except Exception:  # styling is a nicety: the plain text stays
            self.unstylable = True
            return
        finally:
            if self._style_key == key:
                self.style_done.set()
        if self._style_key == key and self.is_attached:
            self._styled = (key, lines, styles)
            self._folder = None  # the plain rows are not needed any more
            self.styles.margin = (top, 0, bottom, 0)
            self.refresh(layout=True)


class _FallbackMarkdown(Markdown):
    """A block Textual renders itself (tables); its margins sit on this widget."""

    SCOPED_CSS = False
    DEFAULT_CSS = """
    _FallbackMarkdown { padding: 0; height: auto; }
    StreamingMarkdown > _FallbackMarkdown > MarkdownBlock { margin-top: 0; margin-bottom: 0; }
    """


class StreamingMarkdown(Markdown):
    DEFAULT_CSS = """
    StreamingMarkdown { height: auto; margin: 0; padding: 0; }
    """

    def __init__(
        self,
        text: str = "",
        *,
        streaming: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(None, id=id, classes=classes)
        self.streaming = streaming
        self._parts: list[str] = [text] if text else []
        self._length = len(text)
        self._frozen_upto = 0  # text[:_frozen_upto] is final and rendered in frozen pieces
        self._rendered_upto = 0  # how much of the text the last flush saw
        self._painter = _Painter(self)
        self._dirty: set[_Blocks | _PlainBlock] = set()  # groups changed by the current step
        self._live_table: _FallbackMarkdown | None = None
        self._group: _Blocks | None = None  # the last group: new frozen and live blocks go there
        self._plain: _PlainBlock | None = None  # the open block, when it is too big to style
        self._scanner: _Scanner | None = None  # where _plain ends
        self._stuck: tuple[int, int] = (-1, 0)  # (frozen point, window) of a step that froze nothing
        self._last_commit = 0.0
        self._commit_handle: asyncio.TimerHandle | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task | None = None
        self._flush_cost = 0.0
        self._budget = BUDGET_START
        self._behind = False
        self._last_flush = 0.0
        self.flushes = 0  # for tests and benchmarks

    # ---- public interface -----------------------------------------------------------------
    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @property
    def source(self) -> str:
        return self.text

    @property
    def rendered(self) -> bool:
        """Finished, and all of ``text`` is rendered (nothing pending)."""
        return (not self.streaming and self._flush_task is None and self._flush_handle is None
                and self._plain is None and self._frozen_upto >= self._length)

    def append(self, chunk: str) -> None:  # type: ignore[override]
        """Add text at the end. Cheap: the work happens once per frame."""
        if not chunk:
            return
        self._parts.append(chunk)
        self._length += len(chunk)
        self._schedule()

    async def finish(self, full_text: str | None = None) -> None:
        """Stop streaming and render the final text; returns once it is all in the DOM."""
        self.streaming = False
        await self._stop_flushing()
        if full_text is not None and full_text != self.text:
            # What is on screen for good: frozen blocks, and what an open plain block was fed.
            shown = self._rendered_upto if self._plain is not None else self._frozen_upto
            frozen = self.text[:shown]
            self._parts = [full_text]
            self._length = len(full_text)
            if not full_text.startswith(frozen):
                await self._reset()
        if self._frozen_upto and _REFERENCE_DEF.search(self.text):
            await self._reset()  # a link definition can change links in frozen blocks
        await self._render_rest()

    @property
    def styled(self) -> bool:
        """Rendered, and every block shown plain first has been styled (or never will be)."""
        return self.rendered and all(
            child.style_done.is_set() for child in self.children if isinstance(child, _PlainBlock)
        )

    async def wait_styled(self) -> None:
        """Wait until the blocks shown plain first are styled (tests, benchmarks)."""
        for child in list(self.children):
            if isinstance(child, _PlainBlock) and child.is_attached:
                await child.style_done.wait()

    def painted_text(self) -> str:
        """Everything painted so far, as plain text, top to bottom (tests, benchmarks)."""
        out: list[str] = []
        for child in self.children:
            if isinstance(child, _Blocks):
                width = child.size.width or self.size.width
                if width:
                    child._ensure(width)
                out.extend("".join(text for text, _ in line) for line in child._lines + child._live_lines)
            elif isinstance(child, _PlainBlock):
                out.append(child.plain_text())
            elif isinstance(child, _FallbackMarkdown):
                out.append(child.source)
        return "\n".join(out)

    async def flush(self) -> None:
        """Render everything appended so far now, and keep streaming (tests, benchmarks)."""
        await self._stop_flushing()
        if self.is_mounted:
            while await self._step(final=not self.streaming):
                await asyncio.sleep(0)
            self._commit()

    def update(self, markdown: str) -> AwaitComplete:  # type: ignore[override]
        """Replace the whole document (not streaming)."""
        self.streaming = False
        self._parts = [markdown] if markdown else []
        self._length = len(markdown)

        async def run() -> None:
            await self._stop_flushing()
            await self._reset()
            await self._render_rest()

        return AwaitComplete(run())

    # ---- lifecycle --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        text = self.text
        if text and len(text) < PARSE_IN_THREAD:
            pieces, end = parse_pieces(self._parser(), text, self.BULLETS, keep_last_open=self.streaming)
            self._frozen_upto = end
            widgets = self._pieces_to_widgets(pieces)
            if widgets and isinstance(widgets[-1], _Blocks):
                self._group = widgets[-1]  # later blocks (frozen and live) go on filling it
            yield from widgets

    _warming: "asyncio.Future[MarkdownIt] | None" = None

    async def _on_mount(self, event: Mount) -> None:
        # Replaces Markdown._on_mount (which would update() with its own initial text);
        # Textual calls every class's handler unless the default is prevented.
        event.prevent_default()
        Widget._on_mount(self, event)
        warming = StreamingMarkdown._warming
        if self._parser_factory is None and (warming is None or warming.get_loop() is not asyncio.get_running_loop()):
            StreamingMarkdown._warming = asyncio.get_running_loop().run_in_executor(_WORKER, _warm_up)
        self._painter.styler.check()
        if self._length and self._frozen_upto < self._length:
            if self.streaming:
                self._schedule()
            else:
                self.run_worker(self._render_rest(), group="streaming-markdown")

    def on_unmount(self) -> None:
        if self._commit_handle is not None:
            self._commit_handle.cancel()
            self._commit_handle = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._flush_task is not None:
            self._flush_task.cancel()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted and self._painter.styler.check():
            for child in self.children:
                if isinstance(child, (_Blocks, _PlainBlock)):
                    child.restyle()

    # ---- internals --------------------------------------------------------------------------
    def _parser(self) -> MarkdownIt:
        factory = self._parser_factory
        return factory() if factory is not None else _default_parser()

    def _pieces_to_widgets(self, pieces: list[Piece]) -> list[Widget]:
        """Group pieces into widgets (no mounting): runs of nodes into _Blocks, tables alone."""
        widgets: list[Widget] = []
        run: list[_Node] = []
        for piece in pieces:
            if isinstance(piece, _Fallback) or self._too_big(piece):
                if run:
                    widgets.append(_Blocks(self._painter, run))
                    run = []
                widgets.append(self._big_piece_widget(piece))
            else:
                run.append(piece)
                if len(run) >= GROUP_BLOCKS:
                    widgets.append(_Blocks(self._painter, run))
                    run = []
        if run:
            widgets.append(_Blocks(self._painter, run))
        return widgets

    @staticmethod
    def _too_big(piece: Piece) -> bool:
        source = piece.source or ""
        return len(source) > (TABLE_MAX if isinstance(piece, _Fallback) else LIVE_MAX)

    def _big_piece_widget(self, piece: Piece) -> Widget:
        """A table (Textual's own widget) or, past the size limits, the block's plain source."""
        if self._too_big(piece):
            return _PlainBlock(self._painter, piece.kind if piece.kind in _BLOCK_NAMES else "p",
                               piece.source or "", closed=True)
        assert isinstance(piece, _Fallback)
        return self._fallback_widget(piece)

    def _fallback_widget(self, piece: _Fallback) -> _FallbackMarkdown:
        widget = _FallbackMarkdown(piece.source, parser_factory=self._parser_factory or _new_parser,
                                   open_links=self._open_links)
        top, bottom = self._painter.margins(piece.kind)
        widget.styles.margin = (top, 0, bottom, 0)
        return widget

    def _schedule(self) -> None:
        if self._flush_handle is not None or self._flush_task is not None or not self.is_mounted:
            return
        if self._behind:
            interval = 0.0  # a burst: catch up in bounded steps, yielding to the loop in between
        else:
            interval = min(SLOW_FRAME, max(FRAME, 3 * self._flush_cost))  # a slow flush stretches the frame
        delay = min(interval, max(0.0, self._last_flush + interval - time.monotonic()))
        self._flush_handle = asyncio.get_running_loop().call_later(delay, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        if not self.is_mounted:
            return
        self._flush_task = asyncio.get_running_loop().create_task(self._flush_guarded())

    async def _flush_guarded(self) -> None:
        try:
            await self._step(final=False)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never lose the app over a rendering bug
            self.app._handle_exception(error)
        finally:
            self._flush_task = None
        if self._length > self._rendered_upto and self.streaming:
            self._schedule()

    async def _stop_flushing(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._flush_task is not None:
            await asyncio.wait({self._flush_task})

    async def _render_rest(self) -> None:
        """Render everything not rendered yet, as final, in bounded steps."""
        if not self.is_mounted:
            return
        while await self._step(final=True):
            await asyncio.sleep(0)
        self._commit()

    async def _parse(self, text: str, keep_last_open: bool) -> tuple[list[Piece], int]:
        factory = self._parser_factory
        warming = StreamingMarkdown._warming
        if factory is None and warming is not None and not hasattr(_tls, "parser"):
            try:  # the warmed-up parser becomes this (the event loop's) thread's parser
                if warming.get_loop() is not asyncio.get_running_loop():
                    raise RuntimeError("warmed up under another event loop")
                _tls.parser = await asyncio.shield(warming)
            except Exception:
                _tls.parser = _new_parser()  # the same options: raw HTML stays text

        def run() -> tuple[list[Piece], int]:
            parser = factory() if factory is not None else _default_parser()  # one per thread
            return parse_pieces(parser, text, list(self.BULLETS), keep_last_open=keep_last_open)

        if len(text) >= PARSE_IN_THREAD:
            return await _off_loop(run)
        return run()

    async def _step(self, final: bool) -> bool:
        """One bounded flush: freeze what became final, re-render the live tail.

        A window of ~``_budget`` characters past the frozen point is taken (cut at a line
        end), so a burst (a fast model, or a long text at once) is rendered over several
        frames instead of freezing the event loop. Every step makes progress whatever it
        cost: it freezes a block, or reaches the end of the text, or, when the open block
        fills the window, the next window is twice as large; an open block larger than
        LIVE_MAX becomes a _PlainBlock read PLAIN_STEP characters per step. The budget
        adapts to the measured cost only to make steps cheaper, never to stop them.
        Returns True if text is left over.
        """
        started = _clock()
        text = self.text
        if self._plain is not None:
            more = await self._plain_step(text, final)
        else:
            more = await self._styled_step(text, final)
        self._commit(force=not more and not self.streaming)
        self.flushes += 1
        self._behind = more
        self._last_flush = time.monotonic()
        cost = self._flush_cost = max(0.0, _clock() - started)
        if cost > 2 * STEP_TARGET:
            self._budget = max(BUDGET_MIN, self._budget // 2)
        elif cost < STEP_TARGET / 2 and more:
            self._budget = min(BUDGET_MAX, self._budget * 2)
        return more

    async def _styled_step(self, text: str, final: bool) -> bool:
        start = self._frozen_upto
        length = len(text)
        window = self._budget
        stuck_at, stuck_window = self._stuck
        if stuck_at == start:
            window = max(window, 2 * stuck_window)
        limit = start + window
        end = length
        if limit < length:
            cut = text.rfind("\n", start, limit)
            if cut == -1:  # the first line alone is longer than the window
                cut = text.find("\n", limit, start + LIVE_MAX + 1)
                if cut == -1:
                    await self._go_plain(start)
                    return True
            end = cut + 1
        more = end < length
        tail = text[start:end]
        self._rendered_upto = end
        if final and not more:
            pieces, _ = await self._parse(tail, keep_last_open=False)
            await self._freeze(pieces, end)
            await self._set_tail([], "")
            self._stuck = (-1, 0)
            return False
        complete = tail[: tail.rfind("\n") + 1]
        if complete:
            pieces, cut = await self._parse(complete, keep_last_open=True)
            if pieces or cut:
                await self._freeze(pieces, start + cut)
                tail = text[self._frozen_upto : end]
        if self._frozen_upto == start and more:
            # The open block fills the window: a larger one next time, or past LIVE_MAX, plain.
            if window >= 2 * LIVE_MAX:
                await self._go_plain(start)
                return True
            self._stuck = (start, window)
        if len(tail) > LIVE_MAX:
            await self._go_plain(self._frozen_upto)
            return True
        live = (await self._parse(tail, keep_last_open=False))[0] if tail else []
        if len(tail) > TABLE_MAX and any(isinstance(piece, _Fallback) for piece in live):
            await self._go_plain(self._frozen_upto)
            return True
        await self._set_tail(live, tail)
        return more

    async def _go_plain(self, start: int) -> None:
        """The open block at `start` is too big to style: show it as plain text from now on."""
        await self._set_tail([], "")
        if self._live_table is not None:
            live_table, self._live_table = self._live_table, None
            await live_table.remove()
        self._end_group()
        self._stuck = (-1, 0)
        text = self.text
        self._scanner = _Scanner(text, start)
        kind = "fence" if self._scanner.top_fence else "p"
        self._plain = _PlainBlock(self._painter, kind)
        self._rendered_upto = start
        await self.mount(self._plain)

    async def _plain_step(self, text: str, final: bool) -> bool:
        """Feed up to PLAIN_STEP more characters to the plain block; close it where it ends."""
        plain, scanner = self._plain, self._scanner
        assert plain is not None and scanner is not None
        length = len(text)
        fed = self._rendered_upto
        upto = min(length, fed + PLAIN_STEP)
        at_end = final and upto == length
        boundary = scanner.scan(text, upto, at_end)
        if boundary is None and at_end:
            boundary = length
        if boundary is not None:
            plain.feed(text[fed:boundary], closed=True)
            self._dirty.add(plain)
            self._plain = self._scanner = None
            self._frozen_upto = self._rendered_upto = boundary
            return boundary < length
        plain.feed(text[fed:upto])
        self._dirty.add(plain)
        self._rendered_upto = upto
        return upto < length

    async def _freeze(self, pieces: list[Piece], upto: int) -> None:
        """Move final blocks into frozen groups (the current group, new ones as they fill)."""
        self._frozen_upto = upto
        if not pieces:
            return
        if self._live_table is not None:
            # The live table is (or was) the block being frozen now: it becomes the frozen one.
            live, self._live_table = self._live_table, None
            first = pieces[0]
            if isinstance(first, _Fallback):
                top, bottom = self._painter.margins(first.kind)
                live.styles.margin = (top, 0, bottom, 0)
                await live.update(first.source)
                pieces = pieces[1:]
                self._end_group()
            else:
                await live.remove()
        self._paint_now(piece for piece in pieces if isinstance(piece, _Node) and not self._too_big(piece))
        new: list[Widget] = []
        for piece in pieces:
            if isinstance(piece, _Fallback) or self._too_big(piece):
                self._end_group()
                new.append(self._big_piece_widget(piece))
                continue
            group = self._group
            if group is None or len(group.nodes) >= GROUP_BLOCKS:
                self._end_group()
                group = self._group = _Blocks(self._painter)
                new.append(group)
            group.freeze([piece])
            self._dirty.add(group)
        if new:
            if self._live_table is not None:
                await self.mount_all(new, before=self._live_table)
            else:
                await self.mount_all(new)

    def _end_group(self) -> None:
        """Blocks after this point go to a new group (its live blocks move there too)."""
        group, self._group = self._group, None
        if group is not None and group.live:
            group.set_live([])
            self._dirty.add(group)

    async def _set_tail(self, live: list[Piece], source: str) -> None:
        group = self._group
        if any(isinstance(piece, _Fallback) for piece in live):
            # A table is streaming: let Textual render the open block (appends are incremental).
            if group is not None and group.live:
                group.set_live([])
                self._dirty.add(group)
            if self._live_table is None:
                self._live_table = _FallbackMarkdown(parser_factory=self._parser_factory, open_links=self._open_links)
                await self.mount(self._live_table)
                await self._live_table.update(source)
            else:
                current = self._live_table.source
                if source.startswith(current) and len(source) > len(current):
                    await self._live_table.append(source[len(current) :])
                elif source != current:
                    await self._live_table.update(source)
            first = next(p for p in live if isinstance(p, _Fallback))
            top, bottom = self._painter.margins(first.kind)
            self._live_table.styles.margin = (top, 0, bottom, 0)
            return
        if self._live_table is not None:
            live_table, self._live_table = self._live_table, None
            await live_table.remove()
        nodes = [piece for piece in live if isinstance(piece, _Node)]
        if group is None:
            if not nodes:
                return
            group = self._group = _Blocks(self._painter)
            await self.mount(group)
        if nodes or group.live:
            self._paint_now(nodes)
            group.set_live(nodes, RESERVE if self.streaming else 0)
            self._dirty.add(group)

    def _commit(self, force: bool = True) -> None:
        """Refresh the changed groups: now when forced (rendering done), else at most once per
        interval growing with the widget count up to LAYOUT_EVERY. A layout costs time
        proportional to the whole chat's height, so one per step made a long text quadratic."""
        now = time.monotonic()
        if not force:
            due = self._last_commit + min(LAYOUT_EVERY, FRAME * (1 + len(self.children) / 8))
            if now < due:
                if self._commit_handle is None:
                    self._commit_handle = asyncio.get_running_loop().call_later(due - now, self._commit_later)
                return
        if self._commit_handle is not None:
            self._commit_handle.cancel()
            self._commit_handle = None
        self._last_commit = now
        dirty, self._dirty = self._dirty, set()
        for group in dirty:
            if group.is_mounted:
                group.commit()
            else:
                group._apply_margins()

    def _commit_later(self) -> None:
        self._commit_handle = None
        if self.is_mounted:
            self._commit()

    def _paint_now(self, nodes: Iterable[_Node]) -> None:
        """Paint inside the (bounded, timed) flush step rather than in the next layout."""
        width = self.size.width
        if width:
            paint = self._painter.paint
            for node in nodes:
                paint(node, width)

    async def _reset(self) -> None:
        """Forget every rendered piece (the next flush renders the whole text)."""
        self._frozen_upto = 0
        self._rendered_upto = 0
        self._plain = self._scanner = None
        if not self.is_mounted:
            return
        self._live_table = None
        self._group = None
        self._plain = self._scanner = None
        self._stuck = (-1, 0)
        self._dirty.clear()
        if self.children:
            await self.remove_children()
