"""The "attach a file" dialog: a path with completion from the current folder.

Typing lists the matching files and folders (muxtui.client.attachments.complete_path, in a
thread); tab completes the highlighted entry (a folder opens, so tab again goes on inside it);
up/down choose; enter attaches the path typed, or the highlighted entry when the typed path is
not a file. Attaching is the app's ``attach(path)`` (read, check the limits, upload): when it is
refused (too big, a binary, no such file) the reason shows in the dialog, which stays open with
the path, so it can be corrected. Esc cancels.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path
from typing import Any, Awaitable, Callable

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from muxtui.client.attachments import complete_path
from muxtui.ui.ordered_keys import OrderedInput
from muxtui.ui.safe import one_line
from muxtui.ui.screens import OnceModal

LIMIT = 200


class PathInput(OrderedInput):
    """The path field: tab completes and up/down choose, handled here, in order with the typing
    (a priority binding would run before the letters typed just before it reached the field);
    its other keys: OrderedInput."""

    async def on_key(self, event: events.Key) -> None:
        screen = self.screen
        if not isinstance(screen, AttachScreen) or event.key not in ("tab", "up", "down"):
            return  # OrderedInput.on_key runs next (MRO dispatch)
        event.stop()
        event.prevent_default()
        if event.key == "tab":
            screen.action_complete()
        else:
            screen.action_move(1 if event.key == "down" else -1)


class AttachScreen(OnceModal[dict[str, Any] | None]):
    """See the module docstring; dismissed with the engine's ref of the attached file."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal-cancel")]

    def __init__(self, cwd: Path, attach: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
        super().__init__(classes="modal")
        self.cwd = cwd
        self.attach_file = attach
        self.entries: list[str] = []
        self.listed: str | None = None  # the text `entries` were listed for
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog attach-dialog") as box:
            box.border_title = "attach a file"
            box.border_subtitle = one_line(str(self.cwd), 50)
            yield PathInput(placeholder="path, from the current folder (~ and /… work too)", id="attach-path")
            yield OptionList(id="attach-list")
            yield Static("", id="attach-error")
            yield Static(Content.styled("tab completes · ↑↓ choose · enter attaches · esc cancels", "dim"),
                         classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one("#attach-error", Static).display = False
        self.query_one(Input).focus()
        self._list("")

    # ---- completion ---------------------------------------------------------------------------
    def _list(self, prefix: str) -> None:
        # a partial, not a coroutine: one replaced before it started is never made ("never awaited")
        self.run_worker(partial(self._fill, prefix), group="attach-complete", exclusive=True, exit_on_error=False)

    async def _fill(self, prefix: str) -> None:
        entries = await asyncio.to_thread(complete_path, prefix, self.cwd, LIMIT)
        if self.query_one(Input).value != prefix:
            return  # typed on meanwhile: a newer listing follows
        self._show(prefix, entries)

    def _show(self, prefix: str, entries: list[str]) -> None:
        self.listed = prefix
        self.entries = entries
        options = self.query_one(OptionList)
        options.set_options([Option(Content(one_line(e, 120))) for e in entries])
        if entries:
            options.highlighted = 0

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._error("")
        self._list(event.value)

    def _highlighted(self) -> str | None:
        index = self.query_one(OptionList).highlighted
        return self.entries[index] if self.entries and index is not None and index < len(self.entries) else None

    def action_complete(self) -> None:
        value = self.query_one(Input).value
        if self.listed != value:  # a tab typed before the listing of the letters before it
            self._show(value, complete_path(value, self.cwd, LIMIT))
        entry = self._highlighted()
        if entry is None:
            return
        field = self.query_one(Input)
        field.value = entry
        field.cursor_position = len(entry)
        field.focus()

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if not self.entries:
            return
        index = options.highlighted if options.highlighted is not None else -step
        options.highlighted = (index + step) % len(self.entries)

    # ---- attaching ----------------------------------------------------------------------------
    @on(Input.Submitted)
    async def _submitted(self, event: Input.Submitted) -> None:
        typed = event.value.strip()
        target = self.cwd / Path(typed).expanduser() if typed else None
        if target is None or not target.is_file():
            entry = self._highlighted()
            if entry is None:
                self._error(_not_a_file(typed, target))
                return
            if entry.endswith("/"):
                self.action_complete()  # a folder: go on inside it
                return
            typed = entry
        await self._attach_entry(typed)

    @on(OptionList.OptionSelected)
    async def _selected(self, event: OptionList.OptionSelected) -> None:
        entry = self.entries[event.option_index]
        if entry.endswith("/"):
            self.action_complete()
            return
        await self._attach_entry(entry)

    async def _attach_entry(self, path: str) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            ref = await self.attach_file(path)
        except (ValueError, OSError, KeyError, RuntimeError) as exc:
            self._error(str(exc) or type(exc).__name__)
            return
        finally:
            self._busy = False
        self.dismiss(ref)

    def _error(self, text: str) -> None:
        error = self.query_one("#attach-error", Static)
        error.update(Content.styled("✗ " + text, "$error") if text else "")
        error.display = bool(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _not_a_file(typed: str, target: Path | None) -> str:
    """Why enter attached nothing, when nothing is listed to pick instead."""
    if not typed or target is None:
        return "type a path (tab completes)"
    if target.is_dir():
        return f"{typed}: a folder with nothing in it to attach"
    return f"{typed}: no such file"
