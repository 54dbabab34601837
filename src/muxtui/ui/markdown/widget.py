"""The streaming Markdown widget: its interface, its life in the DOM, and when it flushes.

Owns: ``StreamingMarkdown`` (the interface the chat pane uses; the design is in the package
docstring): the text appended so far, one flush per frame (``FRAME``, stretched when a step is
slow, back to back while catching up on a burst), and refreshes of the changed groups at most
every ``LAYOUT_EVERY``. What each flush step does is ``_Steps`` (steps.py).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Callable

from markdown_it import MarkdownIt
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.events import Mount
from textual.widgets import Markdown

from muxtui.ui import textual_private
from muxtui.ui.markdown.blocks import _WORKER, _Scanner, _warm_up
from muxtui.ui.markdown.groups import _Blocks
from muxtui.ui.markdown.painting import _Painter
from muxtui.ui.markdown.plain import _PlainBlock
from muxtui.ui.markdown.steps import BUDGET_START, _FallbackMarkdown, _Steps

__all__ = ["StreamingMarkdown"]

FRAME = 1 / 30  # at most one flush per frame while streaming
SLOW_FRAME = 1.0  # a slow step stretches the frame up to this (it never stops progress)
LAYOUT_EVERY = 0.25  # seconds between refreshes while catching up on a burst
_REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:", re.M)


class StreamingMarkdown(_Steps, Markdown):
    """Markdown fed incrementally while a reply streams, and cheap to show when finished."""

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
        parser_factory: Callable[[], MarkdownIt] | None = None,
        open_links: bool = True,
    ) -> None:
        super().__init__(None, id=id, classes=classes, parser_factory=parser_factory, open_links=open_links)
        # Markdown keeps these in private attributes: our own copies, for the blocks we parse.
        self.parser_factory = parser_factory
        self.open_links = open_links
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
        yield from self._first_widgets()

    async def on_mount(self, event: Mount) -> None:
        # Replaces Markdown's own mount handler (which would update() with its initial text):
        # Textual calls every class's handler, down the MRO, unless the default is prevented.
        event.prevent_default()
        textual_private.widget_mount_defaults(self, event)
        warming = _Steps._warming
        if self.parser_factory is None and (warming is None or warming.get_loop() is not asyncio.get_running_loop()):
            _Steps._warming = asyncio.get_running_loop().run_in_executor(_WORKER, _warm_up)
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

    # ---- flushing ---------------------------------------------------------------------------
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
            textual_private.report_exception(self.app, error)
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
