"""A run of top-level blocks painted into lines: one widget, however many blocks.

Owns: ``_Blocks``, the widget that shows frozen blocks (painted once, then kept only as their
lines) and the live blocks still being written, and keeps its height stable while streaming so
Textual repaints only the lines that changed, not the whole chat pane.
"""

from __future__ import annotations

from typing import Any, Iterable

from textual.geometry import Region, Size
from textual.selection import Selection
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Markdown

from muxtui.ui.markdown.blocks import _Node
from muxtui.ui.markdown.painting import Line, _line_strip, _Painter


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
            blank = painter.table.line(painter.host_blank(width))
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
                    blank = painter.table.line(painter.host_blank(width))
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
