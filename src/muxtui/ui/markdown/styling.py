"""The CSS a mounted Markdown block would get, resolved once, and how Textual paints with it.

Owns: ``_Styler``, which gives each style path (e.g. bullet list > row > column > paragraph)
a detached instance of the real Markdown block class under the host and lets the app's
stylesheet resolve it (shared by every host in the same context), and ``_Look``, everything
painting needs from one resolved node: margins, gutter, colours, wrapping of ``Content`` into
strips and the box (padding, border, background) around them, as Textual paints a widget.
Resolving touches the DOM, so it happens on the event loop; a ``_Look`` is then read-only and
used from the worker thread as well.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

from markdown_it.token import Token
from rich.style import Style as RichStyle
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.geometry import Size
from textual.strip import Strip
from textual.style import Style as VisualStyle
from textual.visual import RenderOptions
from textual.widget import Widget
from textual.widgets import Label, Static

from muxtui.ui import textual_private
from muxtui.ui.textual_private import MarkdownBullet

if TYPE_CHECKING:
    from muxtui.ui.markdown.blocks import _Node
    from muxtui.ui.markdown.widget import StreamingMarkdown

class _NotResolved(LookupError):
    """A style path met while painting in a thread that was not resolved beforehand."""


def _style_paths(nodes: list["_Node"]) -> set[tuple]:
    """Every style path _Painter._paint looks up for these top-level nodes (pure)."""
    paths: set[tuple] = set()

    def walk(node: _Node, path: tuple) -> None:
        paths.add(path)
        kind = node.kind
        if kind == "fence":
            paths.add(path + (("code", 0),))
        elif kind in ("quote", "li"):
            for child in node.children:
                walk(child, path + ((child.kind, child.level),))
        elif kind in ("ul", "ol"):
            row = path + (("row", 0),)
            column = row + (("col", 0),)
            paths.update((row, row + (("bullet", 0),), column))
            for item in node.children:
                for child in item.children:
                    walk(child, column + ((child.kind, child.level),))

    for node in nodes:
        walk(node, ((node.kind, node.level),))
    return paths


class _Resolved:
    """Resolved styles shared by every StreamingMarkdown in the same context (see _Styler)."""

    def __init__(self, anchor: "StreamingMarkdown") -> None:
        self.anchor = anchor  # the host whose place in the DOM the detached nodes hang from
        self.nodes: dict[tuple, Widget] = {}
        self.looks: dict[tuple, _Look] = {}


_RESOLVED: "weakref.WeakKeyDictionary[Any, dict[Any, _Resolved]]" = weakref.WeakKeyDictionary()
_BLOCK_NAMES = {
    "p": "paragraph_open", "hr": "hr", "quote": "blockquote_open", "ul": "bullet_list_open",
    "ol": "ordered_list_open", "table": "table_open",
    "h1": "h1", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h5", "h6": "h6",
}


class _Styler:
    """Resolves the CSS a mounted Markdown block would get at this place in the DOM.

    Each style path (e.g. bullet list > row > column > paragraph) gets one detached instance
    of the real block class, parented (not mounted) under a host, and the app's stylesheet is
    applied to it. Detached nodes are invisible to queries, layout and events. Hosts in the
    same context (same ancestors' types, ids and classes, same theme and background) share
    the result, so a chat of forty replies resolves its styles once.
    """

    def __init__(self, host: "StreamingMarkdown") -> None:
        self.host = host
        self.epoch = 0
        self._resolved: _Resolved | None = None
        self._host_look: _Look | None = None
        self._fingerprint: Any = None
        self._owner = threading.get_ident()  # resolving styles touches the DOM: this thread only

    def fingerprint(self) -> Any:
        host = self.host
        app = host.app
        return (
            id(app.stylesheet.rules),
            app.theme,
            app.native_ansi_color,
            host.background_colors,
            host.visual_style,
            tuple((type(n).__name__, n.id, frozenset(n.classes)) for n in host.ancestors_with_self[1:]),
            type(host),
        )

    def check(self) -> bool:
        """Drop resolved styles if anything they depend on changed; True if it did."""
        fingerprint = self.fingerprint()
        if fingerprint == self._fingerprint and self._resolved is not None:
            return False
        self._fingerprint = fingerprint
        shared = _RESOLVED.setdefault(self.host.app, {})
        if len(shared) > 32:
            shared.clear()
        resolved = shared.get(fingerprint)
        if resolved is None or not resolved.anchor.is_attached:
            resolved = shared[fingerprint] = _Resolved(self.host)
        self._resolved = resolved
        self._host_look = None
        self.epoch += 1
        return True

    @property
    def resolved(self) -> _Resolved:
        if self._resolved is None:
            self.check()
        assert self._resolved is not None
        return self._resolved

    def look(self, path: tuple) -> "_Look":
        resolved = self.resolved
        look = resolved.looks.get(path)
        if look is None:
            if threading.get_ident() != self._owner:
                raise _NotResolved(path)  # painting off the loop: see _PlainBlock._style
            look = resolved.looks[path] = _Look(self.node(path))
        return look

    def host_look(self) -> "_Look":
        if self._host_look is None:
            self._host_look = _Look(self.host)
        return self._host_look

    def _make(self, kind: str, level: int) -> Widget:
        """A detached instance of the widget class Textual's Markdown would mount."""
        host = self.host
        block = _BLOCK_NAMES.get(kind)
        if block is not None:
            return host.get_block_class(block)(host, Token(kind, "", 1, level=level))
        if kind == "fence":  # "text": no lexer guessing for the empty sample code
            return host.get_block_class("fence")(host, Token("fence", "code", 0, level=level, info="text"), "")  # type: ignore[call-arg]
        if kind == "code":
            return Label(id="code-content", expand=True)
        if kind == "row":
            return Horizontal()
        if kind == "col":
            return Vertical()
        if kind == "bullet":
            return MarkdownBullet()
        raise KeyError(kind)

    def _register_css(self) -> None:
        """Add the DEFAULT_CSS of every class we resolve, in one go (as mounting would): each
        new source makes the app re-parse its whole stylesheet on the next lookup."""
        host = self.host
        classes = [host.get_block_class(name) for name in _BLOCK_NAMES.values()]
        classes += [host.get_block_class("fence"), Label, Horizontal, Vertical, MarkdownBullet]
        add_source = host.app.stylesheet.add_source
        for cls in classes:
            for read_from, css, tie_breaker, scope in textual_private.default_css_sources(cls):
                add_source(css, read_from=read_from, is_default_css=True, tie_breaker=tie_breaker, scope=scope)

    def node(self, path: tuple) -> Widget:
        resolved = self.resolved
        found = resolved.nodes.get(path)
        if found is not None:
            return found
        if not resolved.nodes:
            self._register_css()
        parent = self.node(path[:-1]) if len(path) > 1 else resolved.anchor
        node = self._make(*path[-1])
        textual_private.attach_detached(node, parent)
        self.host.app.stylesheet.apply(node)
        resolved.nodes[path] = node
        return node


class _Look:
    """Everything painting needs from one resolved style node, computed once per style epoch."""

    __slots__ = (
        "widget", "styles", "margin", "gutter", "auto_width", "expand", "shrink", "fixed_height",
        "min_height", "base_background", "background", "visual_style", "rich_style", "inner_style",
        "blank_first", "blank_rest", "simple", "link_style", "auto_links", "align", "get_style",
    )

    def __init__(self, widget: Widget) -> None:
        self.widget = widget
        styles = self.styles = widget.styles
        self.margin = styles.margin
        gutter = self.gutter = styles.gutter
        border_box = styles.box_sizing == "border-box"
        self.auto_width = styles.width is not None and styles.width.is_auto
        self.expand = widget.expand
        self.shrink = widget.shrink
        self.fixed_height = None
        if styles.height is not None and styles.height.is_cells:
            self.fixed_height = max(0, int(styles.height.value) - (gutter.height if border_box else 0))
        self.min_height = None
        if styles.min_height is not None and styles.min_height.is_cells:
            self.min_height = int(styles.min_height.value) - (gutter.height if border_box else 0)
        base_background, background = self.base_background, self.background = widget.background_colors
        self.visual_style = widget.visual_style
        self.rich_style = self.visual_style.rich_style
        self.inner_style = VisualStyle(background=base_background + background).rich_style
        # A container's own blank content under its children (see _Look.blank).
        if isinstance(widget, Static):
            self.blank_first, self.blank_rest = self.inner_style, self.rich_style
        else:
            plain = RichStyle.from_color(bgcolor=background.rich_color)
            self.blank_first = self.blank_rest = plain
        # No padding, border, outline or effects: Textual's StylesCache would only pad lines.
        self.simple = (
            not gutter.width and not gutter.height and not any(edge for edge, _ in styles.outline)
            and styles.tint.a == 0 and widget.opacity == 1 and styles.text_opacity == 1
            and (not styles.has_rule("hatch") or styles.hatch == "none")
        )
        self.auto_links = widget.auto_links and not widget.is_container
        self.link_style = widget.link_style if self.auto_links else None
        self.align = styles.content_align
        self.get_style = textual_private.style_getter(widget)

    def blank(self, width: int, y: int) -> Strip:
        """Line `y` of a container's own (empty) content, as Textual renders it under children.

        Plain containers render ``Blank(background)``; a Static container (blockquote, list,
        fence) renders its empty content: one empty line padded with the background, then
        blank lines in its full visual style.
        """
        return Strip.blank(width, self.blank_rest if y else self.blank_first)

    def text(self, content: Content, width: int, links: bool = True) -> list[Strip]:
        """Content wrapped to `width`, as ``Visual.to_strips`` renders a Static."""
        if not width:
            return []
        strips = content.render_strips(width, None, self.visual_style, RenderOptions(self.get_style, self.styles))
        if self.link_style is not None and links:
            strips = [textual_private.apply_link_style(strip, self.link_style) for strip in strips]
        if self.align != ("left", "top") and strips:
            horizontal, vertical = self.align
            style = (self.visual_style + VisualStyle(reverse=False)).rich_style
            strips = list(Strip.align(strips, style, width, len(strips), horizontal, vertical))
        return strips

    def box(self, lines: list[Strip], box_width: int, content_width: int) -> list[Strip]:
        """Padding, border and background around content lines, as Textual paints a widget."""
        height = len(lines) if self.fixed_height is None else self.fixed_height
        if self.min_height is not None:
            height = max(height, self.min_height)
        if self.simple:
            inner = self.inner_style
            out = [line.adjust_cell_length(content_width, inner) for line in lines[:height]]
            if len(out) < height:
                out.extend([Strip.blank(content_width, self.rich_style)] * (height - len(out)))
            return out
        blank = Strip.blank(content_width, self.rich_style)
        count = len(lines)
        app = self.widget.app
        return textual_private.StylesCache().render(
            self.styles,
            Size(box_width, height + self.gutter.height),
            self.base_background,
            self.background,
            lambda y: lines[y] if y < count else blank,
            [],
            None,
            None,
            content_size=Size(content_width, height),
            padding=self.styles.padding,
            opacity=self.widget.opacity,
            ansi_theme=app.ansi_theme,
            native_ansi=app.native_ansi_color,
        )

    def fit(self, optimal: int, inner: int) -> int:
        """Content width of a `width: auto` node (Widget.get_content_width)."""
        width = optimal
        if self.expand:
            width = max(inner, width)
        if self.shrink:
            width = min(width, inner)
        return max(0, width)
