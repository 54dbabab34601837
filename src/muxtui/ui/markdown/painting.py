"""Block trees painted into lines at a width, and plain text folded at a width.

Owns: ``_Painter``, which paints ``_Node`` trees with the looks ``_Styler`` resolved (text,
lists, quotes, fences, collapsed margins, as Textual's layouts would place mounted blocks) and
caches the result per (width, style epoch); ``_StyleTable`` and ``Line``, the compact form of
painted lines (tuples the garbage collector does not track); ``_line_strip``, which turns such
a line back into a ``Strip`` with the offsets mouse selection needs; and ``_Folder``, which
folds plain text at a width, fed incrementally.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from rich.cells import get_character_cell_size
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.content import Content
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.widget import Widget

from muxtui.ui import textual_private
from muxtui.ui.markdown.blocks import _Node, parse_pieces
from muxtui.ui.markdown.styling import _Look, _Styler

if TYPE_CHECKING:
    from muxtui.ui.markdown.widget import StreamingMarkdown

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(slots=True)
class _Box:
    strips: list  # Strips while painting; Line tuples once cached (see _Painter.paint)
    margin_top: int
    margin_bottom: int


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

    def line(self, segments: Iterable[Segment]) -> Line:
        index = self._index
        styles = self.styles
        has_meta = textual_private.rich_style_has_meta
        out = []
        for text, style, _control in segments:
            if style is None:
                out.append((text, 0))
                continue
            if has_meta(style):
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
        box = _Box([line(strip) for strip in box.strips], box.margin_top, box.margin_bottom)
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
