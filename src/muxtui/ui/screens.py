"""Modal screens: name a workspace, confirm, pick a model, and the errors view."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.await_complete import AwaitComplete
from textual.screen import ScreenResultType
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from muxtui.ui.safe import one_line, visible


class OnceModal(ModalScreen[ScreenResultType]):
    """A modal that can be dismissed only once: keys typed ahead over SSH arrive in one burst,
    and a second enter or escape must not pop the screen underneath (ScreenStackError)."""

    _dismissed = False

    def dismiss(self, result: ScreenResultType | None = None) -> AwaitComplete:  # type: ignore[override]
        if self._dismissed:
            return AwaitComplete()
        self._dismissed = True
        return super().dismiss(result)


class NameScreen(OnceModal[str | None]):
    """Ask for a workspace name; enter confirms, escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal-cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "workspace name") -> None:
        super().__init__(classes="modal")
        self._title = title
        self._value = value
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self._title
            yield Input(value=self._value, placeholder=self._placeholder, id="name-input", select_on_focus=True)
            yield Static(Content.styled("enter confirms · esc cancels", "dim"), classes="dialog-help")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not name:
            self.notify("a name cannot be empty", severity="warning")
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(OnceModal[bool]):
    """A yes/no question: y or enter confirms, n or escape cancels."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm-no"),
    ]

    def __init__(self, question: str, detail: str = "", title: str = "confirm") -> None:
        super().__init__(classes="modal")
        self._question = question
        self._detail = detail
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self._title
            yield Static(Content(one_line(self._question)), classes="dialog-question")
            if self._detail:
                yield Static(Content.styled(visible(self._detail), "dim"))
            yield Static(Content.styled("y / enter: yes · n / esc: no", "dim"), classes="dialog-help")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ModelPicker(OnceModal[str | None]):
    """The models from the config, then the ones the servers list, filtered as you type;
    enter on free text uses it as typed.

    It opens at once with what is known (the config and the cached server lists); ``fetch``
    (from the app) asks the servers in a worker and the list fills in when they answer. f5
    asks them again now. A server without a models endpoint changes nothing: no toast.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="modal-cancel"),
        Binding("down", "focus_list", show=False),
        Binding("f5", "refresh_models", "Refresh", id="models-refresh"),
    ]

    def __init__(self, models: list[str], current: str,
                 fetch: Callable[[bool], Awaitable[list[str]]] | None = None) -> None:
        super().__init__(classes="modal")
        self.models = models
        self.current = current
        self.fetch = fetch
        self.asking = False  # True while the servers are being asked (not `loading`: that is a Widget reactive)
        self._asks = 0
        self._shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog model-dialog") as dialog:
            dialog.border_title = "model"
            yield Input(placeholder="filter, or type provider:model", id="model-input")
            yield OptionList(id="model-list")
            yield Static("", id="model-status", classes="dialog-help")
            yield Static(Content.styled("enter picks · ↓ list · f5 asks the servers · esc cancels", "dim"),
                         classes="dialog-help")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()
        self._load(refresh=False)

    def _load(self, *, refresh: bool) -> None:
        if self.fetch is None:
            return
        self._status("asking the servers for their models…" if refresh else "")
        self.asking = True
        self._asks += 1
        self.run_worker(self._fetch(refresh, self._asks), group="model-list", exclusive=True)

    async def _fetch(self, refresh: bool, ask: int) -> None:
        assert self.fetch is not None
        try:
            models = await self.fetch(refresh)
        except Exception as exc:  # noqa: BLE001 - a listing problem must never close the picker
            self._status(f"could not list the servers' models: {exc}")
            return
        finally:
            if ask == self._asks:  # an older ask, cancelled by a newer one, must not clear it
                self.asking = False
        if models != self.models:
            self.models = models
            self._fill(self.query_one(Input).value, keep=True)
        self._status(f"{len(models)} models · the servers were asked just now" if refresh else "")

    def _status(self, text: str) -> None:
        self.query_one("#model-status", Static).update(Content.styled(one_line(text), "dim"))

    def _fill(self, query: str, *, keep: bool = False) -> None:
        q = query.strip().lower()
        ol = self.query_one(OptionList)
        before = self._shown[ol.highlighted] if keep and ol.highlighted is not None and self._shown else None
        self._shown = [m for m in self.models if q in m.lower()] if q else list(self.models)
        options = []
        for m in self._shown:
            label = Content(one_line(m))
            if m == self.current:
                label += Content.styled("  (current)", "dim")
            options.append(Option(label))
        ol.set_options(options)
        if self._shown:
            target = before if before in self._shown else self.current
            ol.highlighted = self._shown.index(target) if target in self._shown else 0

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        typed = event.value.strip()
        ol = self.query_one(OptionList)
        if typed in self.models:
            self.dismiss(typed)
        elif self._shown and ol.highlighted is not None:
            self.dismiss(self._shown[ol.highlighted])
        elif typed:
            self.dismiss(typed)  # free entry; the app reports a malformed name clearly

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._shown[event.option_index])

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_refresh_models(self) -> None:
        self._load(refresh=True)

    def action_cancel(self) -> None:
        self.dismiss(None)


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def _when(ts: Any, now: float) -> str:
    if not isinstance(ts, (int, float)):
        return "?"
    return f"{datetime.fromtimestamp(ts).strftime('%Y-%m-%d %H:%M')} ({ago(now - ts)})"


class ErrorsScreen(OnceModal[None]):
    """The error log grouped by signature: count, first/last seen, one sample with details."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="errors-close")]

    def __init__(self, groups: list[dict[str, Any]], workspace_names: dict[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(classes="modal")
        self.groups = groups
        self.names = workspace_names
        self.clock = clock

    def compose(self) -> ComposeResult:
        now = self.clock()
        with VerticalScroll(classes="dialog errors-dialog") as box:
            total = sum(g["count"] for g in self.groups)
            box.border_title = f"errors · {total} in {len(self.groups)} group{'s' if len(self.groups) != 1 else ''}"
            box.border_subtitle = "esc closes"
            if not self.groups:
                yield Static(Content.styled("No errors logged. Every stream closed cleanly.", "$success"))
            for g in self.groups:
                yield Static(self._group(g, now), classes="error-group")
            yield Static(Content.styled("the full log: muxtui logs --errors", "dim"), classes="dialog-help")

    def _group(self, g: dict[str, Any], now: float) -> Content:
        s = g.get("sample") or {}
        ws = s.get("workspace")
        ws_label = self.names.get(ws, f"{ws} (deleted)" if ws else "?")
        title = Content.assemble((f"{g['count']}× ", "bold $error"), (one_line(g["signature"]), "bold"))
        seen = Content.styled(f"last {_when(g.get('last_seen'), now)} · first {_when(g.get('first_seen'), now)}",
                              "dim")
        details = [
            ("request", s.get("request_id")),
            ("upstream", s.get("upstream_request_id")),
            ("workspace", ws_label),
            ("model", s.get("model")),
            ("close", s.get("close_kind")),
            ("status", s.get("upstream_status")),
            ("bytes", s.get("bytes")),
            ("duration", f"{s['duration']:.2f} s" if isinstance(s.get("duration"), (int, float)) else None),
            ("attempt", s.get("attempt")),
        ]
        fields = Content(" · ").join(
            Content.assemble((f"{k} ", "dim"), one_line(str(v))) for k, v in details if v not in (None, "")
        )
        lines = [title, seen, fields]
        if s.get("error"):
            lines.append(Content.styled(one_line(s["error"], 300), "$error"))
        return Content("\n").join(lines)

    def action_close(self) -> None:
        self.dismiss(None)
