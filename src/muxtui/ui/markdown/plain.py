"""Blocks too big to style within a frame: shown as their folded source first, styled later.

Owns: ``_PlainBlock``, the widget for an open block past the live size limit (a huge fence,
paragraph or table): each step appends only the new text, folded at the width; once closed
and at most ``STYLE_MAX`` long it is parsed and painted in the worker thread (styles resolved
on the loop beforehand) and its styled lines replace the plain ones.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget

from muxtui.ui.markdown.blocks import _default_parser, _Fallback, _Node, _off_loop, parse_pieces
from muxtui.ui.markdown.painting import Line, _Folder, _line_strip, _Painter, _StyleTable
from muxtui.ui.markdown.styling import _Look, _style_paths

STYLE_MAX = 131_072  # a plain block up to this long is styled later, in a thread
_TABLE_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*\|", re.M)  # a table's second line


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
        first = next(iter(blank), None)
        style = first.style if first is not None else None
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
        factory = host.parser_factory
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
            blank = table.line(look.blank(width, 0))
            lines: list[Line] = []
            top = previous = 0
            for index, node in enumerate(nodes):
                box = painter._paint(node, ((node.kind, node.level),), width, look)
                if index:
                    lines.extend([blank] * max(previous, box.margin_top))
                else:
                    top = box.margin_top
                lines.extend(table.line(strip) for strip in box.strips)
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
