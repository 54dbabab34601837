"""Every private Textual name muxtui uses, fenced in one module (Textual is pinned to ~=8.2.0).

Textual's public API does not reach everything muxtui does: the streaming Markdown widget paints
blocks with Textual's own code instead of mounting one widget per block, the sidebar paints its
rows itself, the composer follows the user's key bindings, and the tests read the screen as
text. Each name below says why it is needed and what public API would replace it. Nothing else
in src/, tests/ or bench/ touches a private Textual name: tests/test_textual_private.py checks
that, and names every fenced symbol an upgrade removes or reshapes. After an upgrade, fix the
names here (and only here), then run the snapshot suite.

One private Rich name is here too (``rich_style_has_meta``): the same rule, another library.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Mapping

from rich.style import Style as RichStyle
from textual.dom import DOMNode
from textual.widget import Widget
from textual.widgets.markdown import MarkdownBlock

# The sidebar paints its rows itself (one ScrollView of lines) with the same left edge a CSS
# border draws. Public replacement: none.
from textual._border import get_box as border_box

# Paints padding, border and background around content lines exactly as Textual paints a mounted
# widget (ui/markdown paints blocks without mounting them). Public replacement: none (a widget's
# render_lines needs it mounted and laid out).
from textual._styles_cache import StylesCache

# Tests feed it escape sequences, to check the keys terminal_keys teaches it. Public
# replacement: none (the drivers own their parser).
from textual._xterm_parser import XTermParser

# The key name Textual gives a typed character ("?" -> "question_mark"); tests compare config's
# key names with it. Public replacement: none.
from textual.keys import _character_to_key as character_to_key

# A list bullet's styles are resolved on a detached instance of Markdown's own bullet class.
# Public replacement: exporting it from textual.widgets.markdown, as MarkdownBlock already is.
from textual.widgets._markdown import MarkdownBullet

if TYPE_CHECKING:
    from markdown_it.token import Token
    from textual.app import App
    from textual.content import Content
    from textual.events import Event, Mount
    from textual.message_pump import MessagePump
    from textual.notifications import Notification
    from textual.screen import Screen
    from textual.strip import Strip
    from textual.style import Style as VisualStyle
    from textual.timer import Timer
    from textual.widgets import TextArea

__all__ = [
    "MarkdownBullet", "StylesCache", "XTermParser", "ansi_sequence_table", "app_keymap", "apply_link_style",
    "attach_detached", "border_box", "character_to_key", "default_css_sources", "inline_content",
    "bytes_update", "compositor_update_lines", "notifications", "on_keyboard_edit", "release_painted_lines", "report_exception",
    "rich_style_has_meta", "screen_strips", "send_to_driver", "set_footer_key_disabled", "style_getter",
    "timer_running", "widget_mount_defaults", "wrap_display",
]


# ---- painting Markdown blocks without mounting them (ui/markdown) ---------------------------


def inline_content(token: Token) -> Content:
    """An inline markdown-it token as Content, converted as Markdown's own blocks convert it."""
    # The same styles (".strong", ".code_inline") and link actions as a mounted paragraph, and
    # text kept literal (no console markup). The method does not read `self` (8.2), hence None.
    # Public replacement: a static MarkdownBlock.token_to_content.
    return MarkdownBlock._token_to_content(None, token)  # type: ignore[arg-type]


def default_css_sources(cls: type[DOMNode]) -> list[tuple[Any, str, int, str]]:
    """The DEFAULT_CSS sources of a widget class and its bases, as mounting would add them."""
    # The styles of every block class are resolved without mounting one, so their CSS goes into
    # the stylesheet in one go (each new source makes the app re-parse its whole stylesheet).
    # _get_default_css only reads _node_bases: no instance is needed.
    # Public replacement: none (App.stylesheet.add_source takes one source; the inherited list
    # of a class's sources is private).
    bases = SimpleNamespace(_node_bases=cls._css_bases(cls))
    return DOMNode._get_default_css(bases)  # type: ignore[arg-type]


def attach_detached(node: MessagePump, parent: MessagePump) -> None:
    """Give a detached style node a parent, so CSS selectors like "Markdown > X" match it."""
    # mount() would also lay it out, post events and show it; the node only resolves styles.
    # Public replacement: none.
    node._attach(parent)


def style_getter(widget: Widget) -> Callable[[VisualStyle | str], VisualStyle]:
    """The widget's own style lookup, as RenderOptions for Content.render_strips needs it."""
    # Resolves "$text-accent", component classes and ".strong"-like names in Content exactly as
    # the widget would when rendering itself. Public replacement: none (get_visual_style takes
    # component classes only).
    return widget._get_style


def apply_link_style(strip: Strip, link_style: RichStyle) -> Strip:
    """A strip with the widget's link style applied to its links, as Widget renders content."""
    # Public replacement: none.
    return strip._apply_link_style(link_style)


def widget_mount_defaults(widget: Widget, event: Mount) -> None:
    """Widget's own mount handling, for a widget that prevents its base class's handlers."""
    # StreamingMarkdown prevents Markdown's mount handler (it would reset the text); that also
    # skips Widget's, which sets the scrollbars CSS asks for. Public replacement: none (a way
    # to skip one base class's handler only).
    Widget._on_mount(widget, event)


def report_exception(app: App, error: Exception) -> None:
    """Show an error from a task the app does not supervise as Textual shows a handler's."""
    # A rendering bug in a background flush task then ends on Textual's traceback screen, never
    # in a silently frozen widget. Public replacement: none for a plain asyncio task (App.panic
    # takes renderables, not the exception and its traceback).
    app._handle_exception(error)


def rich_style_has_meta(style: RichStyle) -> bool:
    """Whether a Rich style carries meta (offsets, links, @click); cheap on every segment."""
    # Rich, not Textual: Style.meta unpickles on each read; _meta answers without that.
    # Public replacement: none.
    return style._meta is not None


def release_painted_lines(widget: Widget) -> None:
    """Forget the lines a widget has painted; they are painted again when it is next on screen."""
    # Textual keeps every line a widget ever painted (a Strip each, with seven caches of its
    # own) until the widget is refreshed, even once it has scrolled far out of view: a long chat
    # pane kept the lines of every reply mounted (the soak bench: +100 MB over 300 replies).
    # Public replacement: none (Widget.refresh() clears them too, but also schedules a repaint).
    widget._styles_cache.clear()


# ---- keys and the terminal ------------------------------------------------------------------


def app_keymap(app: Any) -> Mapping[str, str]:
    """The keymap the app applied (binding id -> keys, as Textual normalised them); {} if none."""
    # The composer's own keys and the key names shown in help and the palette follow the user's
    # [keys]. Public replacement: an App.keymap property (8.2 has set_keymap/update_keymap only).
    return getattr(app, "_keymap", None) or {}


def ansi_sequence_table() -> dict | None:
    """The legacy key parser's table of escape sequences, or None if this Textual has none."""
    # terminal_keys adds the alt+key sequences of terminals without the kitty protocol.
    # Public replacement: none (no hook to add escape sequences).
    try:
        from textual import _ansi_sequences
    except ImportError:  # pragma: no cover - a future Textual moved it
        return None
    table = _ansi_sequences.ANSI_SEQUENCES_KEYS
    return table if isinstance(table, dict) else None


def write_to_terminal(app: App, data: str) -> None:
    """Write raw escape sequences to the terminal (tmux's clipboard passthrough), if it has one."""
    # Public replacement: none (App.copy_to_clipboard writes the plain OSC 52 only).
    driver = getattr(app, "_driver", None)
    if driver is not None:
        driver.write(data)


# ---- what the app writes to the terminal (ui/terminal_output) ---------------------------------


def wrap_display(app: App, display: Callable[[Callable[[Screen, Any], None], Screen, Any], None]) -> None:
    """Route every frame the app writes through `display(original, screen, update)`.

    ui/terminal_output sends only the cells that changed (Textual repaints whole regions, with a
    full SGR and a reset around every segment), and skips frames while a slow terminal drains.
    It calls `original` (App._display: synchronized-output markers, the cursor move, the write)
    with its own update, or with None to write nothing. Public replacement: none (a documented
    hook between the compositor's update and the driver, or a way to hand the driver bytes per
    frame, would do).
    """
    original = app._display

    def routed(screen: Screen, renderable: Any) -> None:
        display(original, screen, renderable)

    app._display = routed  # type: ignore[method-assign]


def compositor_update_lines(update: Any) -> tuple[bool, list[tuple[int, list[tuple[int, Strip]]]]] | None:
    """The lines a compositor update paints: (full, [(y, [(x, strip), ...]), ...]), where `full`
    says it repaints the whole screen; None for an update of another kind (inline mode).

    A ChopsUpdate's pieces are cut to its dirty spans (the cells Textual says changed). Public
    replacement: none (the update classes and their fields are private; only render_segments,
    the finished bytes, is meant to be read).
    """
    from textual._compositor import ChopsUpdate, LayoutUpdate

    if isinstance(update, LayoutUpdate):
        lines = []
        x0 = update.region.x
        for y, line in enumerate(update.strips, update.region.y):
            pieces, x = [], x0
            for strip in line:
                if strip is not None:
                    pieces.append((x, strip))
                    x += strip.cell_length
            lines.append((y, pieces))
        return True, lines
    if isinstance(update, ChopsUpdate):
        lines = []
        for y, x1, x2 in update.spans:
            pieces = []
            for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items()):
                if strip is None or x >= x2 or end <= x1:
                    continue
                lo, hi = max(x, x1), min(end, x2)
                if lo != x or hi != end:
                    strip = strip.crop(lo - x, hi - x)
                pieces.append((lo, strip))
            lines.append((y, pieces))
        return False, lines
    return None


def bytes_update(render: Callable[[], str]) -> Any:
    """A compositor update whose terminal bytes are `render()`, called only if App._display
    really writes the frame (it does not while the app starts, stops or batches updates)."""
    # App._display renders only CompositorUpdate instances itself (anything else goes through
    # Rich's console). Public replacement: as for wrap_display.
    from textual._compositor import CompositorUpdate

    class BytesUpdate(CompositorUpdate):
        def render_segments(self, console: Any) -> str:
            return render()

    return BytesUpdate()


# ---- CPU per frame (ui/screens) ---------------------------------------------------------------

__all__ += ["HeaderTitle", "render_both_ways", "render_only_what_shows", "screen_size"]

# The header's title widget: ui/frames.StableHeader composes a subclass whose updates skip the
# layout pass (the title is one clipped line, 100 % wide). Public replacement: exporting it from
# a public textual.widgets.header module, as textual.widgets.markdown does for its blocks.
from textual.widgets._header import HeaderTitle  # noqa: E402


def render_only_what_shows(screen: Screen) -> None:
    """Make the screen's compositor render only the widgets, and the rows of them, that show.

    Textual's Compositor._render_chops asks every visible widget whose *clip* overlaps the
    update for all its lines (for the header, footer, composer and sidebar the clip is the whole
    screen), cuts every line at every widget edge, and then keeps, cut by cut, the front-most
    widget's piece: the chat pane's containers (screen, columns, the pane, each message, each
    Markdown body) all rendered every row under the painted text, only to be thrown away, and a
    reply growing by one line re-rendered (from cache, through StylesCache, strip crops and
    TextArea's per-call theme CSS) every widget on the screen, every line. This replacement
    walks the same widgets front to back but renders a widget only for the rows of the update
    where some cut it covers is still unclaimed by a widget in front, so each cell still comes
    from the front-most widget covering it, exactly as before. Columns are left whole (the
    cuts must start where the strips start).
    Public replacement: none (a compositor that crops by region and skips covered widgets).
    """
    from textual.geometry import Region

    compositor = screen._compositor

    def render_chops(crop: Region, is_rendered_line: Callable[[int], bool]) -> list[dict[int, Strip | None]]:
        cuts = compositor.cuts
        fromkeys = dict.fromkeys
        chops: list[dict[int, Strip | None]] = [fromkeys(cut_set[:-1]) for cut_set in cuts]
        intersection = Region.intersection
        top, bottom = crop.y, crop.bottom
        for widget, (region, clip) in list(compositor.visible_widgets.items()):
            x, y, width, height = intersection(region, clip)
            first_row, end_row = max(y, top), min(y + height, bottom)
            if not width or first_row >= end_row or x >= crop.right or x + width <= crop.x:
                continue
            last_cut = x + width
            wanted: list[tuple[int, list[int]]] = []
            for row in range(first_row, end_row):
                if not is_rendered_line(row):
                    continue
                line = chops[row]
                final_cuts = [cut for cut in cuts[row] if last_cut >= cut >= x]
                for cut in final_cuts[:-1]:
                    if line[cut] is None:
                        wanted.append((row, final_cuts))
                        break
            if not wanted:
                continue  # every cell of it in the update is covered by widgets in front
            start = wanted[0][0]
            strips = widget.render_lines(Region(x - region.x, start - region.y, width, wanted[-1][0] - start + 1))
            for row, final_cuts in wanted:
                line = chops[row]
                pieces = strips[row - start].divide([cut - x for cut in final_cuts[1:]])
                for cut, piece in zip(final_cuts, pieces):
                    if line[cut] is None:
                        line[cut] = piece
        return chops

    compositor._render_chops = render_chops  # type: ignore[method-assign]


# ---- tests and benchmarks -------------------------------------------------------------------


def screen_strips(screen: Screen) -> list[Strip]:
    """What the screen shows now, line by line (tests and benchmarks read it as text)."""
    # Public replacement: none as text (App.export_screenshot renders SVG).
    return screen._compositor.render_strips()


def render_both_ways(screen: Screen, crop: Any, rows: Callable[[int], bool]) -> tuple[list, list, list[list[int]]]:
    """(ours, Textual's, cuts): the chops the screen's compositor renders for `crop` and `rows`,
    and those Textual's own _render_chops renders (tests: render_only_what_shows changes nothing
    that shows)."""
    from textual._compositor import Compositor

    compositor = screen._compositor
    return compositor._render_chops(crop, rows), Compositor._render_chops(compositor, crop, rows), compositor.cuts


def screen_size(screen: Screen) -> Any:
    """The size the screen's compositor lays out (tests)."""
    return screen._compositor.size


def notifications(app: App) -> list[Notification]:
    """The notifications the app is showing now (tests)."""
    # Public replacement: none (App.notify only writes; toasts are widgets that come and go).
    return list(app._notifications)


def timer_running(timer: Timer) -> bool:
    """Whether a timer is ticking (not paused, not stopped) (tests)."""
    # Public replacement: none (Timer has pause/resume but no state).
    return timer._active.is_set()


def send_to_driver(app: App, event: Event) -> None:
    """Feed an input event as the terminal driver does, without Pilot's wait-until-idle (bench)."""
    # Public replacement: none (Pilot.press waits for the app to be idle, which a streaming app
    # never is).
    app._driver.send_message(event)  # type: ignore[union-attr]


def on_keyboard_edit(text_area: TextArea, callback: Callable[[], None]) -> None:
    """Call `callback` after each edit typed into `text_area` (bench: typing latency)."""
    # Every typed character goes through this one method. Public replacement: TextArea.Changed,
    # which is a message, posted later: it would time the message queue, not the edit.
    original = text_area._replace_via_keyboard

    def replace(*args: Any, **kwargs: Any) -> Any:
        outcome = original(*args, **kwargs)
        callback()
        return outcome

    text_area._replace_via_keyboard = replace  # type: ignore[method-assign]


# ---- the footer (ui/footer) -----------------------------------------------------------------


def set_footer_key_disabled(key: Widget, disabled: bool) -> None:
    """Enable or disable a mounted FooterKey as Footer would have composed it."""
    # StableFooter updates its keys in place instead of recomposing (Textual's recompose leaks
    # every key's data_bind watcher). The -disabled class dims the key; _disabled makes a click
    # ring the bell instead of pressing the key. Public replacement: a FooterKey.disabled-like
    # reactive, or a Footer that does not recompose.
    key.set_class(disabled, "-disabled")
    key._disabled = disabled  # type: ignore[attr-defined]
