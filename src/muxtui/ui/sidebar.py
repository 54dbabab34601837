"""The workspace list: one row per workspace, re-rendered only when its badge state changes.

Rows read nothing but the ``WorkspaceState`` the tracker publishes. The spinner of streaming
rows is advanced by the app's single spinner timer through ``Sidebar.tick()``.
"""

from __future__ import annotations

from textual import events
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget

from muxtui.ui.safe import one_line
from muxtui.ui.state import WorkspaceState, WorkspaceTracker, short_model

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + "…"


class WorkspaceRow(Widget):
    """Two lines: name + activity (spinner, unread dot); model + state (error, resumable, queued)."""

    class Selected(Message):
        def __init__(self, workspace_id: str) -> None:
            super().__init__()
            self.workspace_id = workspace_id

    def __init__(self, state: WorkspaceState, index: int) -> None:
        super().__init__(classes="ws-row")
        self.state = state
        self.index = index
        self.frame = 0

    def set_state(self, state: WorkspaceState) -> None:
        if state != self.state:
            self.state = state
            self._classes_for_state()
            self.refresh()

    def on_mount(self) -> None:
        self._classes_for_state()

    def _classes_for_state(self) -> None:
        self.set_class(self.state.error_type is not None, "-error")
        self.set_class(self.state.streaming, "-streaming")

    def render(self) -> Content:
        s = self.state
        width = max(1, self.content_region.width or self.size.width)
        # line 1: [n] name ........ spinner/unread
        marks: list[tuple[str, str]] = []
        if s.streaming:
            marks.append((SPINNER[self.frame % len(SPINNER)], "bold $accent"))
        if s.unread:
            marks.append(("●", "bold $accent"))
        marks_len = sum(len(m) for m, _ in marks) + (len(marks) - 1 if marks else 0)
        prefix = f"{self.index} " if self.index <= 9 else ""
        room = width - marks_len - (1 if marks else 0) - len(prefix)
        name = _fit(one_line(s.name), room)
        line1 = Content.assemble(
            (prefix, "dim"),
            (name, "bold" if "-current" in self.classes else ""),
            " " * max(0, width - len(prefix) - len(name) - marks_len),
            *[part for n, (m, style) in enumerate(marks) for part in ((" " if n else ""), (m, style))],
        )
        # line 2: model ........ state badges (these win over the model name when space is short)
        badges: list[tuple[str, str]] = []
        if s.error_type:
            badges.append((f"✗ {s.error_type}", "bold $error"))
        elif s.recovered:
            badges.append(("↻ recovered", "$warning"))
        elif s.interrupted:
            badges.append(("↻ resumable", "$warning"))
        if s.queued:
            badges.append((f"+{s.queued} queued", "$secondary"))
        badge_text = " ".join(b for b, _ in badges)
        if len(badge_text) > width:
            badges = [(_fit(badges[0][0], width), badges[0][1])]
            badge_text = badges[0][0]
        model_room = width - len(badge_text) - (1 if badge_text else 0)
        model = _fit(one_line(short_model(s.model)), model_room) if model_room >= 4 else ""
        pad = " " * max(0, width - len(model) - len(badge_text))
        parts: list[tuple[str, str] | str] = [(model, "dim"), pad]
        for n, (b, style) in enumerate(badges):
            parts.append(((" " if n else ""), ""))
            parts.append((b, style))
        line2 = Content.assemble(*parts)
        return Content("\n").join([line1, line2])

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Selected(self.state.id))


class Sidebar(VerticalScroll, can_focus=False):
    """Workspaces in stable order (registry order, new ones at the end)."""

    def __init__(self, tracker: WorkspaceTracker, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tracker = tracker
        self.rows: dict[str, WorkspaceRow] = {}
        self.current: str | None = None

    def on_mount(self) -> None:
        self.border_title = "workspaces"
        self.tracker.changed.subscribe(self, self._on_state)
        for state in self.tracker.states():
            self._on_state(state)

    def _on_state(self, state: WorkspaceState) -> None:
        row = self.rows.get(state.id)
        if state.deleted:
            if row is not None:
                del self.rows[state.id]
                row.remove()
                self._renumber()
            return
        if row is None:
            row = WorkspaceRow(state, len(self.rows) + 1)
            row.set_class(state.id == self.current, "-current")
            self.rows[state.id] = row
            self.mount(row)
        else:
            row.set_state(state)

    def _renumber(self) -> None:
        for n, row in enumerate(self.rows.values(), 1):
            if row.index != n:
                row.index = n
                row.refresh()

    def set_current(self, ws_id: str | None) -> None:
        self.current = ws_id
        for row_id, row in self.rows.items():
            row.set_class(row_id == ws_id, "-current")
            row.refresh()
        row = self.rows.get(ws_id or "")
        if row is not None:
            self.call_after_refresh(self.scroll_to_widget, row, animate=False)

    def tick(self, frame: int) -> None:
        """The spinner: only streaming rows repaint."""
        for row in self.rows.values():
            if row.state.streaming:
                row.frame = frame
                row.refresh()
