"""The flush steps of StreamingMarkdown: which text is final, which block is live, where it goes.

Owns: ``_Steps``, the part of ``StreamingMarkdown`` that turns its text into child widgets in
bounded steps: a window of the text past the frozen point is parsed, the blocks that became
final are frozen into ``_Blocks`` groups, the open block is shown live (or, past ``LIVE_MAX``,
handed to a ``_PlainBlock`` and a ``_Scanner``), tables are left to ``_FallbackMarkdown``;
and the tuning constants those steps read (tests patch them on this module). ``_Steps`` is a
mixin only to keep files short: it reads and writes the widget's own state (the attributes
declared below), set up in ``StreamingMarkdown.__init__``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Callable, Iterable

from markdown_it import MarkdownIt
from textual.widget import Widget
from textual.widgets import Markdown

from muxtui.ui.markdown.blocks import (
    Piece, _default_parser, _Fallback, _new_parser, _Node, _off_loop, _Scanner, _tls, parse_pieces,
)
from muxtui.ui.markdown.groups import _Blocks
from muxtui.ui.markdown.painting import _Painter
from muxtui.ui.markdown.plain import _PlainBlock
from muxtui.ui.markdown.styling import _BLOCK_NAMES

PARSE_IN_THREAD = 16_384  # tails (or whole texts) at least this long are parsed off the loop
GROUP_BLOCKS = 64  # top-level blocks per frozen group
RESERVE = 4  # while streaming, a group's height grows in steps of this many lines
STEP_TARGET = 0.020  # seconds of work per flush step; the character budget adapts to it
BUDGET_START, BUDGET_MIN, BUDGET_MAX = 4_096, 1_024, 262_144  # characters per step
LIVE_MAX = 4_096  # a larger block is shown plain first (_PlainBlock), styled once closed
TABLE_MAX = 2_048  # a larger table stays plain: Textual's grid costs ~10 ms a row to mount
PLAIN_STEP = 262_144  # characters of a plain block read per step
_clock = time.monotonic  # step costs are measured with this (tests fake a slow machine)


class _FallbackMarkdown(Markdown):
    """A block Textual renders itself (tables); its margins sit on this widget."""

    SCOPED_CSS = False
    DEFAULT_CSS = """
    _FallbackMarkdown { padding: 0; height: auto; }
    StreamingMarkdown > _FallbackMarkdown > MarkdownBlock { margin-top: 0; margin-bottom: 0; }
    """


if TYPE_CHECKING:
    _Host = Markdown
else:
    _Host = object


class _Steps(_Host):
    """Bounded flush steps (see the module docstring); StreamingMarkdown's state, its methods."""

    # Set up by StreamingMarkdown.__init__.
    streaming: bool
    parser_factory: Callable[[], MarkdownIt] | None
    open_links: bool
    flushes: int
    _length: int
    _frozen_upto: int
    _rendered_upto: int
    _painter: _Painter
    _dirty: set[_Blocks | _PlainBlock]
    _live_table: _FallbackMarkdown | None
    _group: _Blocks | None
    _plain: _PlainBlock | None
    _scanner: _Scanner | None
    _stuck: tuple[int, int]
    _flush_cost: float
    _budget: int
    _behind: bool
    _last_flush: float

    _warming: asyncio.Future[MarkdownIt] | None = None  # the first parser, warmed up in a thread

    def _first_widgets(self) -> list[Widget]:
        """What compose yields: a short text is parsed there and then, a long one in the flush."""
        text = self.text
        if text and len(text) < PARSE_IN_THREAD:
            pieces, end = parse_pieces(self._parser(), text, self.BULLETS, keep_last_open=self.streaming)
            self._frozen_upto = end
            widgets = self._pieces_to_widgets(pieces)
            if widgets and isinstance(widgets[-1], _Blocks):
                self._group = widgets[-1]  # later blocks (frozen and live) go on filling it
            return widgets
        if self.streaming and not text:
            # An empty reply about to stream: its first group is mounted now (hidden while it
            # has no blocks), so the first words need no mount between the delta and the screen.
            self._group = _Blocks(self._painter)
            return [self._group]
        return []

    def _parser(self) -> MarkdownIt:
        factory = self.parser_factory
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
        widget = _FallbackMarkdown(piece.source, parser_factory=self.parser_factory or _new_parser,
                                   open_links=self.open_links)
        top, bottom = self._painter.margins(piece.kind)
        widget.styles.margin = (top, 0, bottom, 0)
        return widget

    async def _parse(self, text: str, keep_last_open: bool) -> tuple[list[Piece], int]:
        factory = self.parser_factory
        warming = _Steps._warming
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
                self._live_table = _FallbackMarkdown(parser_factory=self.parser_factory, open_links=self.open_links)
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
