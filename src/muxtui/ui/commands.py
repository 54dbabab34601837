"""Command palette: every muxtui action, plus "go to workspace" for each workspace.

Hits are built from literal ``Content`` (workspace names may contain "[" and must never be
parsed as markup; ``Matcher.highlight`` would parse them) and the help text is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp


@dataclass
class PaletteCommand:
    title: str
    help: str
    callback: Callable[[], object]
    discover: bool = True


class MuxCommands(Provider):
    def _commands(self) -> list[PaletteCommand]:
        app: MuxApp = self.app  # type: ignore[assignment]
        return list(app.palette_commands(self.screen))

    async def discover(self) -> Hits:
        for cmd in self._commands():
            if cmd.discover:
                yield DiscoveryHit(Content(cmd.title), cmd.callback, text=cmd.title, help=escape(cmd.help))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        style = matcher.match_style
        for cmd in self._commands():
            score, offsets = matcher.fuzzy_search.match(query, cmd.title)
            if score <= 0:
                continue
            display = Content(cmd.title)
            for offset in offsets:
                if not cmd.title[offset].isspace():
                    display = display.stylize(style, offset, offset + 1)
            yield Hit(score, display, cmd.callback, text=cmd.title, help=escape(cmd.help))
