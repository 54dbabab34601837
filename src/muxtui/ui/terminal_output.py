"""What the app writes to the terminal, and what happens when the terminal is slow.

Two parts, installed together by ``install`` on a real terminal (never in headless tests, whose
screens Textual renders itself):

- ``TerminalOutput`` sits between Textual's compositor and the driver (the hook is fenced in
  ui/textual_private). Each frame updates a model of the screen (ui/screen_diff) and only the
  cells that changed are written, with short SGR transitions: a reply growing in the chat
  pane costs the words it adds, a blinking cursor one cell.
- ``MuxDriver`` is Textual's Linux driver with its own writer thread: Textual's blocks the event
  loop once 30 writes are queued (a slow SSH link), and then keys stop echoing. Ours never
  blocks the loop: while a frame is still being written, later frames only update the model,
  and when the terminal has taken the bytes the writer asks for one frame with everything that
  changed meanwhile (coalescing: only the latest screen costs bytes).

The terminal's content is unknown after a resize and after a suspend/resume: the next frame
then paints every cell (``ScreenDiff.forget_shown``).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from textual.drivers.linux_driver import LinuxDriver

from muxtui.ui.screen_diff import COLOR_SYSTEMS, ScreenDiff
from muxtui.ui.textual_private import bytes_update, compositor_update_lines, wrap_display

if TYPE_CHECKING:
    from textual.app import App
    from textual.screen import Screen

# How long `stop` waits for the terminal to take what is queued (a dead link must not hang quit).
STOP_TIMEOUT = 5.0


class TerminalWriter(threading.Thread):
    """Writes to the terminal in its own thread; `write` never blocks. `pending` counts the
    characters handed over and not yet taken by the terminal (0: the terminal keeps up)."""

    def __init__(self, file: Any, on_drained: Callable[[], None]) -> None:
        super().__init__(daemon=True, name="muxtui-output")
        self._file = file
        self._items: deque[str | None] = deque()
        self._ready = threading.Condition()
        self.pending = 0
        self.written = 0  # characters written so far (tests, bench)
        self._on_drained = on_drained

    def write(self, text: str) -> None:
        if not text:
            return
        with self._ready:
            self._items.append(text)
            self.pending += len(text)
            self._ready.notify()

    def run(self) -> None:
        write, flush = self._file.write, self._file.flush
        while True:
            with self._ready:
                while not self._items:
                    self._ready.wait()
                items = list(self._items)
                self._items.clear()
            stop = None in items
            text = "".join(item for item in items if item is not None)
            if text:
                try:
                    write(text)
                    flush()
                except (OSError, ValueError):  # the terminal went away: nothing more to write to
                    stop = True
            with self._ready:
                self.pending -= len(text)
                self.written += len(text)
                drained = self.pending == 0
            if stop:
                return
            if drained:
                self._on_drained()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        with self._ready:
            self._items.append(None)
            self._ready.notify()
        self.join(timeout)


class MuxDriver(LinuxDriver):
    """Textual's Linux driver, writing through a TerminalWriter (see the module docstring)."""

    def __init__(self, app: App, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        output = getattr(app, "terminal_output", None)
        self.output: TerminalOutput | None = output if isinstance(output, TerminalOutput) else None
        self.writer: TerminalWriter | None = None

    def start_application_mode(self) -> None:
        if self.writer is None:
            self.writer = TerminalWriter(sys.__stderr__, self._drained)
            self.writer.start()
            if self.output is not None:
                self.output.attach(self.writer, asyncio.get_running_loop())
        elif self.output is not None:  # back from a suspend: the screen shows the shell's output
            self.output.forget_shown()
        super().start_application_mode()

    def _drained(self) -> None:
        if self.output is not None:
            self.output.drained()

    def write(self, data: str) -> None:
        if self.writer is not None:
            self.writer.write(data)
        else:
            super().write(data)

    def close(self) -> None:
        writer, self.writer = self.writer, None
        if self.output is not None:
            self.output.attach(None, None)
        if writer is not None:
            writer.stop()
        super().close()


class TerminalOutput:
    """The app's frames as cell diffs, coalesced while the writer is behind."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.screen = ScreenDiff()
        self.writer: TerminalWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._display: Callable[[Screen, Any], None] | None = None
        self._flush_scheduled = False
        self._want_flush = False
        self._cursor: tuple[int, int] | None = None  # where the last frame left the cursor
        self.frames = 0  # frames written (tests, bench)
        self.skipped = 0  # frames held back while the terminal drained

    def attach(self, writer: TerminalWriter | None, loop: asyncio.AbstractEventLoop | None) -> None:
        self.writer, self._loop = writer, loop
        self.forget_shown()

    def display(self, original: Callable[[Screen, Any], None], screen: Screen, update: Any) -> None:
        """Every frame Textual writes comes here (textual_private.wrap_display)."""
        self._display = original
        if update is None or self.writer is None or self.app.is_headless:
            original(screen, update)
            return
        lines = compositor_update_lines(update)
        if lines is None:  # not a screen update we model: Textual writes it; the model is stale
            self.screen.known = False
            self.forget_shown()
            original(screen, update)
            return
        full, rows = lines
        size = self.app.size
        model = self.screen
        if full:
            if (model.width, model.height) != (size.width, size.height) or not model.known:
                model.color_system = COLOR_SYSTEMS.get(self.app.console.color_system or "", model.color_system)
                model.reset(size.width, size.height)
            model.known = True
        elif not model.known or (model.width, model.height) != (size.width, size.height):
            self._cursor = None
            original(screen, update)  # no full frame yet: nothing to diff against
            return
        for y, pieces in rows:
            model.apply(y, pieces)
        self._write(screen)

    def _write(self, screen: Screen) -> None:
        assert self._display is not None
        writer = self.writer
        # Set before looking at `pending`: the writer reads it after it drains (its thread).
        self._want_flush = True
        if writer is not None and writer.pending:
            # The terminal is behind: this frame goes out with the next, when the writer drains.
            self.skipped += 1
            self._display(screen, None)
            return
        if not self.screen.changed() and (self.app.cursor_position.x, self.app.cursor_position.y) == self._cursor:
            self._want_flush = False
            self._display(screen, None)
            return
        self._display(screen, bytes_update(self._render))

    def _render(self) -> str:
        """The frame's bytes, when App._display writes it (the model then counts it as shown)."""
        self._want_flush = False
        cursor = self.app.cursor_position
        text = self.screen.diff(self._cursor)
        self.frames += 1
        self._cursor = (cursor.x, cursor.y)
        return text

    def drained(self) -> None:
        """The writer has written everything (its thread): send what was held back."""
        loop = self._loop
        if self._want_flush and not self._flush_scheduled and loop is not None:
            self._flush_scheduled = True
            try:
                loop.call_soon_threadsafe(self._flush)
            except RuntimeError:  # the loop has closed: the app is gone
                pass

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._want_flush and self.writer is not None and self._display is not None and self.app.is_running:
            self._write(self.app.screen)

    def forget_shown(self) -> None:
        self.screen.forget_shown()
        self._cursor = None


def install(app: App) -> TerminalOutput:
    """Route the app's frames through a TerminalOutput (active once MuxDriver runs)."""
    output = TerminalOutput(app)
    wrap_display(app, output.display)
    return output
