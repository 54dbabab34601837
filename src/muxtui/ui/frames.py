"""What keeps a frame cheap: widgets of the app's chrome that repaint without a layout pass.

Owns ``StableHeader``: the app's header, whose title updates repaint one line instead of laying
out the whole screen (the sub-title changes when a reply starts and ends, with the context
meter, the usage...).

Not here, on purpose: Textual sets ``virtual_size`` (a layout reactive) inside every layout for
each widget whose size changed, so each growth of a streaming reply costs a second layout.
Redeclaring it without layout on the reply's widgets removed that second layout, but the
second layout also re-measures a Markdown body whose children changed during the first, and
without it the end of a reply could stay off screen (tests/test_render_shapes.py under load).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.visual import VisualType
from textual.widgets import Header

from muxtui.ui.textual_private import HeaderTitle


class _StableHeaderTitle(HeaderTitle):
    """The header's title: one line, 100 % wide, clipped with an ellipsis (HeaderTitle's CSS), so
    its size never depends on the text and a new title needs no layout pass."""

    def update(self, content: VisualType = "", *, layout: bool = False) -> None:
        super().update(content, layout=False)


class StableHeader(Header):
    """Textual's Header, whose title changes repaint one line instead of laying out the screen."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield _StableHeaderTitle() if type(widget) is HeaderTitle else widget
