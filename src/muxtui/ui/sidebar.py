"""The workspace list: one Line API widget that draws two lines per workspace.

The sidebar is virtual: it mounts no widget per workspace. ``render_line(y)`` draws only the lines
on screen, from the ``WorkspaceState`` the tracker publishes, so start-up and layout cost the
same for 2 workspaces or 2,000. A state change repaints just that workspace's two lines, and the
spinner (advanced by the app's single spinner timer through ``Sidebar.tick()``) repaints just
its cell in the streaming rows that are on screen. Rendered rows are cached per workspace and
reused until their state, number, highlight, width or the theme changes; a spinner frame only
swaps the glyph of that one cell into the cached line (``_spin_line``), so a tick costs a few
strip crops per streaming row, not a render of its text.

Row look (CSS component classes, see app.tcss): ``sidebar--row`` (left edge, padding),
``sidebar--row-hover`` (under the mouse), ``sidebar--row-current`` (the open workspace). In a
narrow terminal the app's CSS makes the sidebar one column wide: each row is then a number and
one badge (``strip_content``).
"""

from __future__ import annotations

from rich.cells import cell_len, get_character_cell_size
from rich.segment import Segment
from rich.style import Style as RichStyle

from textual import events
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.style import Style
from textual.visual import Visual

from muxtui.client import countdown
from muxtui.ui.safe import one_line
from muxtui.ui.state import WorkspaceState, WorkspaceTracker, short_model
from muxtui.ui.textual_private import border_box

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ROW_HEIGHT = 2


def _fit(text: str, width: int) -> str:
    """`text` cut to `width` cells, ending in "…" when cut."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for ch in text:
        size = get_character_cell_size(ch)
        if used + size > width - 1:
            break
        out.append(ch)
        used += size
    return "".join(out) + "…"


STRIP_WIDTH = 3  # at most this many columns: the badge strip (narrow terminals)


def strip_content(state: WorkspaceState, index: int, frame: int, current: bool) -> Content:
    """The badge strip's two lines: the number (alt+N), then one badge, the most urgent first."""
    s = state
    number = Content.styled(str(index) if index <= 9 else "·", "bold" if current else "dim")
    if s.streaming:
        badge = (SPINNER[frame % len(SPINNER)], "bold $accent")
    elif s.error_type:
        badge = ("✗", "bold $error")
    elif s.unread:
        badge = ("●", "bold $accent")
    elif s.recovered or s.interrupted:
        badge = ("↻", "$warning")
    elif s.queued:
        badge = ("+", "$secondary")
    else:
        badge = (" ", "")
    return Content("\n").join([number, Content.styled(*badge)])


def spinner_column(state: WorkspaceState, width: int) -> int | None:
    """Where row_content puts the spinner on line 1 (a column of the content), None if nowhere."""
    if not state.streaming or width <= STRIP_WIDTH:
        return None
    # line 1 ends with the marks: the spinner, then " ●" when unread
    column = max(1, width) - 1 - (2 if state.unread else 0)
    return column if column >= 0 else None


def row_content(state: WorkspaceState, index: int, width: int, frame: int, current: bool) -> Content:
    """Two lines: name + activity (spinner, unread dot); model + state (error, resumable, queued)."""
    s = state
    if width <= STRIP_WIDTH:
        return strip_content(state, index, frame, current)
    width = max(1, width)
    # line 1: [n] name ........ spinner/unread
    marks: list[tuple[str, str]] = []
    if s.streaming:
        marks.append((SPINNER[frame % len(SPINNER)], "bold $accent"))
    if s.unread:
        marks.append(("●", "bold $accent"))
    marks_len = sum(cell_len(m) for m, _ in marks) + (len(marks) - 1 if marks else 0)
    prefix = f"{index} " if index <= 9 else ""
    room = width - marks_len - (1 if marks else 0) - len(prefix)
    name = _fit(one_line(s.name), room)
    line1 = Content.assemble(
        (prefix, "dim"),
        (name, "bold" if current else ""),
        " " * max(0, width - len(prefix) - cell_len(name) - marks_len),
        *[part for n, (m, style) in enumerate(marks) for part in ((" " if n else ""), (m, style))],
    )
    # line 2: model ........ state badges (these win over the model name when space is short)
    badges: list[tuple[str, str]] = []
    if s.error_type:
        wait = f" {countdown(s.retry_in)}" if s.retry_in else ""  # the provider's Retry-After, ticking
        badges.append((f"✗ {one_line(s.error_type)}{wait}", "bold $error"))
    elif s.recovered:
        badges.append(("↻ recovered", "$warning"))
    elif s.interrupted:
        badges.append(("↻ resumable", "$warning"))
    if s.queued:
        badges.append((f"+{s.queued} queued", "$secondary"))
    badge_text = " ".join(b for b, _ in badges)
    if cell_len(badge_text) > width:
        badges = [(_fit(badges[0][0], width), badges[0][1])]
        badge_text = badges[0][0]
    badge_len = cell_len(badge_text)
    model_room = width - badge_len - (1 if badge_text else 0)
    model = _fit(one_line(short_model(s.model)), model_room) if model_room >= 4 else ""
    pad = " " * max(0, width - cell_len(model) - badge_len)
    parts: list[tuple[str, str] | str] = [(model, "dim"), pad]
    for n, (b, style) in enumerate(badges):
        parts.append(((" " if n else ""), ""))
        parts.append((b, style))
    line2 = Content.assemble(*parts)
    return Content("\n").join([line1, line2])


class _Look:
    """Resolved styles of one row variant (plain, hover, current) for the current theme."""

    __slots__ = ("style", "inner", "left", "pad_left", "pad_right", "key")

    def __init__(self, style: Style, inner: RichStyle, left: Segment | None, pad_left: int,
                 pad_right: int) -> None:
        self.style = style
        self.inner = inner
        self.left = left
        self.pad_left = pad_left
        self.pad_right = pad_right
        self.key = (style, inner, left, pad_left, pad_right)


class Sidebar(ScrollView, can_focus=False):
    """Workspaces in stable order (registry order, new ones at the end), two lines each."""

    COMPONENT_CLASSES = {"sidebar--row", "sidebar--row-hover", "sidebar--row-current"}

    DEFAULT_CSS = """
    Sidebar {
        overflow-x: hidden;
        overflow-y: auto;
    }
    """

    class Selected(Message):
        """A row was clicked."""

        def __init__(self, sidebar: Sidebar, workspace_id: str) -> None:
            super().__init__()
            self.sidebar = sidebar
            self.workspace_id = workspace_id

        @property
        def control(self) -> Sidebar:
            return self.sidebar

    def __init__(self, tracker: WorkspaceTracker, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tracker = tracker
        self.current: str | None = None
        self.frame = 0
        self._ids: list[str] = []  # display order
        self._index: dict[str, int] = {}  # id -> position in _ids
        self._states: dict[str, WorkspaceState] = {}
        self._streaming: set[str] = set()
        self._hover_y: int | None = None  # mouse line in the window, or None
        self._scroll_pending = False  # set_current() before the first layout: scroll on resize
        self._sync_pending = False  # rows added/removed, virtual size not updated yet
        self._looks: dict[str, _Look] = {}
        # id -> (key, lines, spinner cell (x in the line, its style) or None, frame drawn with)
        self._row_cache: dict[str, tuple[tuple, list[Strip], tuple[int, RichStyle] | None, int]] = {}

    # ---- data ---------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.border_title = "workspaces"
        self.tracker.changed.subscribe(self, self._on_state)
        self.sync_states()

    def sync_states(self) -> None:
        """Read every state from the tracker (after it added many without a signal each)."""
        for state in self.tracker.states():
            self._on_state(state)

    @property
    def workspace_ids(self) -> list[str]:
        """Workspace ids in display order."""
        return list(self._ids)

    def _on_state(self, state: WorkspaceState) -> None:
        ws_id = state.id
        if state.deleted:
            if ws_id in self._index:
                self._ids.remove(ws_id)
                self._index = {i: n for n, i in enumerate(self._ids)}
                del self._states[ws_id]
                self._streaming.discard(ws_id)
                self._row_cache.pop(ws_id, None)
                self._rows_changed()  # the rows below move up and are renumbered
            return
        if state.streaming:
            self._streaming.add(ws_id)
        else:
            self._streaming.discard(ws_id)
        index = self._index.get(ws_id)
        if index is None:
            self._index[ws_id] = len(self._ids)
            self._ids.append(ws_id)
            self._states[ws_id] = state
            self._rows_changed()
            if ws_id == self.current and self._scroll_pending:
                self.call_after_refresh(self._scroll_to_current)
        elif state != self._states[ws_id]:
            self._states[ws_id] = state
            self._refresh_row(index)

    def _rows_changed(self) -> None:
        """Rows were added or removed: one resize and repaint for a whole burst (start-up adds
        every workspace in one go)."""
        if not self._sync_pending:
            self._sync_pending = True
            self.call_later(self._sync_rows)

    def _sync_rows(self) -> None:
        self._sync_pending = False
        self.virtual_size = Size(0, len(self._ids) * ROW_HEIGHT)
        self.refresh()

    def _refresh_row(self, index: int | None, lines: int = ROW_HEIGHT) -> None:
        """Repaint `lines` lines of one row, if any of it is on screen."""
        if index is None or not self.is_mounted:
            return
        top = index * ROW_HEIGHT
        scroll_y = self.scroll_offset.y
        if top + lines <= scroll_y or top >= scroll_y + self._window_size().height:
            return  # off screen: drawn fresh when scrolled to (the cache key sees the change)
        self.refresh_lines(top, lines)

    def _window_size(self) -> Size:
        """Size of the visible row area, without asking the compositor (``size`` and
        ``scrollable_content_region`` look the widget up in the screen's map)."""
        width, height = self.outer_size
        gutter = self.gutter
        return Size(max(0, width - gutter.width), max(0, height - gutter.height))

    def set_current(self, ws_id: str | None) -> None:
        old, self.current = self.current, ws_id
        if old != ws_id:
            self._refresh_row(self._index.get(old or ""))
            self._refresh_row(self._index.get(ws_id or ""))
        self._scroll_pending = ws_id is not None
        if ws_id in self._index:
            self.call_after_refresh(self._scroll_to_current)

    def _scroll_to_current(self) -> None:
        """Bring the current row into view (the least scroll that shows both its lines)."""
        index = self._index.get(self.current or "")
        if index is None or not self._scroll_pending:
            return  # (a row not there yet: _on_state comes back here when it is)
        if not self._window_size().height:
            return  # not laid out yet: on_resize comes back here
        self._scroll_pending = False
        region = Region(0, index * ROW_HEIGHT, max(1, self._window_size().width), ROW_HEIGHT)
        self.scroll_to_region(region, animate=False, x_axis=False, immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        if self._scroll_pending:
            self.call_after_refresh(self._scroll_to_current)

    def tick(self, frame: int) -> None:
        """The spinner: only its cell in the streaming rows on screen repaints."""
        self.frame = frame
        if not self.is_mounted:
            return
        height = None
        for ws_id in self._streaming:
            index = self._index.get(ws_id)
            if index is None:
                continue
            cached = self._row_cache.get(ws_id)
            if cached is None or cached[2] is None:
                self._refresh_row(index, 1)  # not drawn yet, or the narrow strip: the whole line
                continue
            if height is None:
                height = self._window_size().height
            top = index * ROW_HEIGHT - self.scroll_offset.y
            if 0 <= top < height:
                self.refresh(Region(cached[2][0], top, 1, 1))

    # ---- mouse --------------------------------------------------------------------------------
    def _row_at(self, event: events.MouseEvent) -> int | None:
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        index = (offset.y + self.scroll_offset.y) // ROW_HEIGHT
        return index if 0 <= index < len(self._ids) else None

    def _hover_index(self) -> int | None:
        if self._hover_y is None:
            return None
        return (self._hover_y + self.scroll_offset.y) // ROW_HEIGHT

    def _set_hover(self, y: int | None) -> None:
        before = self._hover_index()
        self._hover_y = y
        after = self._hover_index()
        if before != after:
            self._refresh_row(before)
            self._refresh_row(after)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        offset = event.get_content_offset(self)
        self._set_hover(None if offset is None else offset.y)

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def on_click(self, event: events.Click) -> None:
        index = self._row_at(event)
        if index is not None:
            self.post_message(self.Selected(self, self._ids[index]))

    # ---- rendering ----------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        self._looks.clear()
        self._row_cache.clear()
        super().notify_style_update()

    def _look(self, variant: str) -> _Look:
        """Styles of a row variant, resolved like a child widget with those CSS rules would be."""
        look = self._looks.get(variant)
        if look is None:
            names = ("sidebar--row",) if variant == "row" else ("sidebar--row", f"sidebar--row-{variant}")
            style = self.get_visual_style(*names)
            styles = self.get_component_styles(*names)
            base_background = self.get_visual_style().background
            inner = Style(background=style.background)
            edge, edge_color = styles.border_left
            left = None
            if edge:
                outer = Style(background=base_background)
                left = border_box(edge, inner, outer, Style(foreground=base_background + edge_color))[1][0]
            padding = styles.padding
            look = _Look(style, inner.rich_style, left, padding.left, padding.right)
            self._looks[variant] = look
        return look

    def _row_strips(self, index: int, width: int) -> list[Strip]:
        ws_id = self._ids[index]
        state = self._states[ws_id]
        current = ws_id == self.current
        variant = "current" if current else ("hover" if index == self._hover_index() else "row")
        look = self._look(variant)
        frame = self.frame if state.streaming else 0
        key = (state, index, variant, width, look.key)
        cached = self._row_cache.get(ws_id)
        # A row whose spinner is one known cell is reused at every frame (_spin_line swaps the
        # glyph); any other row (the narrow strip) only at the frame it was drawn with.
        if cached is not None and cached[0] == key and (cached[2] is not None or cached[3] == frame):
            return self._spin_line(cached)
        content_width = width - (1 if look.left is not None else 0) - look.pad_left - look.pad_right
        column = spinner_column(state, content_width)
        spinner = None
        if column is not None:
            lines = self._draw_row(state, index, content_width, 0, current, look, width)
            x = column + (1 if look.left is not None else 0) + look.pad_left
            segments = list(lines[0].crop(x, x + 1)) if 0 <= x < width else []
            if segments and segments[0].text == SPINNER[0]:
                spinner = (x, segments[0].style)
        if spinner is None:
            lines = self._draw_row(state, index, content_width, frame, current, look, width)
        entry = (key, lines, spinner, frame)
        self._row_cache[ws_id] = entry
        return self._spin_line(entry)

    def _draw_row(self, state: WorkspaceState, index: int, content_width: int, frame: int, current: bool,
                  look: _Look, width: int) -> list[Strip]:
        content = row_content(state, index + 1, content_width, frame, current)
        strips = Visual.to_strips(self, content, max(0, content_width), ROW_HEIGHT, look.style,
                                  apply_selection=False)
        lines: list[Strip] = []
        for y in range(ROW_HEIGHT):
            line = strips[y] if y < len(strips) else Strip.blank(0)
            parts: list[Strip] = []
            if look.left is not None:
                parts.append(Strip([look.left], 1))
            if look.pad_left:
                parts.append(Strip.blank(look.pad_left, look.inner))
            parts.append(line.adjust_cell_length(max(0, content_width), look.inner))
            if look.pad_right:
                parts.append(Strip.blank(look.pad_right, look.inner))
            lines.append(Strip.join(parts).crop_extend(0, width, look.inner))
        return lines

    def _spin_line(self, entry: tuple) -> list[Strip]:
        """A cached row with the spinner's cell showing the current frame."""
        _key, lines, spinner, _frame = entry
        glyph = SPINNER[self.frame % len(SPINNER)]
        if spinner is None or glyph == SPINNER[0]:
            return lines
        x, style = spinner
        first = lines[0]
        spun = Strip.join([first.crop(0, x), Strip([Segment(glyph, style)], 1), first.crop(x + 1)])
        return [spun, *lines[1:]]

    def render_line(self, y: int) -> Strip:
        width = self._window_size().width
        index, line = divmod(self.scroll_offset.y + y, ROW_HEIGHT)
        if not 0 <= index < len(self._ids):
            return Strip.blank(width, self.visual_style.rich_style)
        return self._row_strips(index, width)[line]
