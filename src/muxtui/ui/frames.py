"""What keeps a frame cheap while a reply streams: shared by the chat's widgets.

Owns ``quiet_virtual_size()``, a replacement for ``Widget.virtual_size`` in the widgets that
grow while a reply streams (the reply's Markdown, its groups of painted blocks, the message
around them, the chat pane). Textual declares ``virtual_size`` with ``layout=True``, and sets it
from inside every layout pass for each widget whose size changed: so every layout that grew the
reply asked for a second whole-screen layout right after, which repainted the whole chat pane
again (two full repaints per new line of a streaming reply). For these widgets the virtual size
is an output of the layout, never an input: a non-scrolling widget's is its own size, and a
scrolling one's scrollbars are updated by the layout itself (``Widget._size_updated`` calls
``_scroll_update``). The widgets that set a virtual size themselves (the sidebar, a ScrollView)
keep Textual's.

Also ``StableHeader``: the app's header, whose title updates repaint without a layout pass.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.geometry import Size
from textual.reactive import Reactive
from textual.visual import VisualType
from textual.widgets import Header

from muxtui.ui.textual_private import HeaderTitle


def quiet_virtual_size() -> Reactive[Size]:
    """``virtual_size`` without the layout (and repaint) a change would request."""
    return Reactive(Size(0, 0), layout=False, repaint=False)


class _StableHeaderTitle(HeaderTitle):
    """The header's title: one line, 100 % wide, clipped with an ellipsis (HeaderTitle's CSS), so
    its size never depends on the text and a new title needs no layout pass."""

    def update(self, content: VisualType = "", *, layout: bool = False) -> None:
        super().update(content, layout=False)


class StableHeader(Header):
    """Textual's Header, whose title changes repaint one line instead of laying out the screen
    (the sub-title changes when a reply starts and ends, with the context meter, the usage...)."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield _StableHeaderTitle() if type(widget) is HeaderTitle else widget
