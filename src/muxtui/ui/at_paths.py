"""``@path`` completion in the composer: typing "@" and part of a path shows the matching files
and folders of the current folder in a small list above the composer; tab completes the
highlighted one (a folder keeps the list open for its entries), up/down move the highlight.

Kept light so typing never waits for it: the token is found with one regex on the line before
the cursor, the folder is listed in a thread (muxtui.client.attachments.complete_path scans a
huge folder only so far), a newer keystroke cancels an older listing, and nothing runs while no
"@" token is being typed. Which ``@tokens`` become attachments on send is decided then
(``find_at_paths``: only tokens naming existing files, so "@alice" stays text).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from muxtui.client.attachments import complete_path
from muxtui.ui.safe import one_line

if TYPE_CHECKING:
    from muxtui.ui.composer import Composer

TOKEN = re.compile(r"(?:^|(?<=\s))@(\S*)$")
SHOWN = 6  # entries listed at once


class AtSuggestions(Static):
    """The list above the composer (hidden while no "@" token is typed)."""

    DEFAULT_CSS = """
    AtSuggestions {
        display: none;
        height: auto;
        max-height: 7;
        padding: 0 1;
        margin: 0 1;
        background: $surface;
        border-left: tall $accent;
    }
    """

    def show(self, entries: list[str], index: int) -> None:
        start = max(0, min(index - SHOWN + 1, len(entries) - SHOWN))
        lines = []
        for n, entry in enumerate(entries[start:start + SHOWN], start):
            text = "@" + one_line(entry, 100)
            lines.append(Content.styled(text, "reverse bold") if n == index else Content(text))
        more = len(entries) - SHOWN
        help_text = "tab completes · ↑↓ choose" + (f" · {more} more" if more > 0 else "")
        lines.append(Content.styled(help_text, "dim"))
        self.update(Content("\n").join(lines))
        self.display = True

    def hide(self) -> None:
        self.display = False


class AtPathCompleter:
    """See the module docstring. One per composer (``composer.at_paths``)."""

    def __init__(self, view: AtSuggestions, cwd: Path | None = None, limit: int = 50) -> None:
        self.view = view
        self.cwd = cwd
        self.limit = limit
        self.entries: list[str] = []
        self.index = 0
        self._token: tuple[int, int, str] | None = None  # row, column of the "@", the prefix typed

    @property
    def open(self) -> bool:
        return bool(self.entries) and self._token is not None

    def token_at_cursor(self, composer: Composer) -> tuple[int, int, str] | None:
        row, column = composer.cursor_location
        before = composer.document.get_line(row)[:column]
        if "@" not in before:
            return None
        match = TOKEN.search(before)
        return (row, match.start(), match.group(1)) if match else None

    def changed(self, composer: Composer) -> None:
        """The text changed: list the completions of the token at the cursor, if there is one."""
        token = self.token_at_cursor(composer)
        if token is None:
            if self._token is not None:
                self.close()
            return
        self._token = token
        composer.run_worker(self._complete(token), group="at-paths", exclusive=True, exit_on_error=False)

    async def _complete(self, token: tuple[int, int, str]) -> None:
        cwd = self.cwd or Path.cwd()
        entries = await asyncio.to_thread(complete_path, token[2], cwd, self.limit)
        if token != self._token:
            return  # typed on meanwhile
        if entries == [token[2]]:
            entries = []  # complete already (a file typed in full): nothing to offer
        self.entries, self.index = entries, 0
        if entries:
            self.view.show(entries, 0)
        else:
            self.view.hide()

    def key(self, composer: Composer, key: str) -> bool:
        """Handle tab on an "@" token, up / down while the list is open; True when used. Keys
        come in order with the typing (the composer's own handler): a tab typed before the
        listing of the letters before it finished lists them now."""
        if key == "tab":
            token = self.token_at_cursor(composer)
            if token is None:
                return False
            if token != self._token or not self.entries:
                self._token = token
                self.entries = complete_path(token[2], self.cwd or Path.cwd(), self.limit)
                self.index = 0
                if self.entries == [token[2]]:
                    self.entries = []
            if not self.entries:
                self.close()
                return False
            self.accept(composer)
            return True
        if not self.open:
            return False
        if key in ("down", "up"):
            self.index = (self.index + (1 if key == "down" else -1)) % len(self.entries)
            self.view.show(self.entries, self.index)
        elif key == "escape":
            self.close()
        else:
            return False
        return True

    def accept(self, composer: Composer) -> None:
        token = self.token_at_cursor(composer)
        if token is None or not self.entries:
            self.close()
            return
        row, column, prefix = token
        entry = self.entries[self.index]
        folder = entry.endswith("/")
        end = (row, column + 1 + len(prefix))
        self.close()
        result = composer.replace("@" + entry + ("" if folder else " "), (row, column), end,
                                  maintain_selection_offset=False)
        if result:
            composer.move_cursor(result.end_location)

    def close(self) -> None:
        self._token = None
        self.entries = []
        self.index = 0
        self.view.hide()
