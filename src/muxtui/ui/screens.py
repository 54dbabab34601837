"""The main screen (its mouse selection copies message source), and the modal screens: name a
workspace, confirm, pick a model, restore a deleted workspace, and the errors view."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.await_complete import AwaitComplete
from textual.screen import ScreenResultType
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from muxtui.humanize import ago
from muxtui.ui import textual_private
from muxtui.ui.messages import selected_text
from muxtui.ui.ordered_keys import OrderedInput
from muxtui.ui.safe import one_line, visible


class MainScreen(Screen):
    """The app's default screen. Copying a selection that covers whole replies copies their
    Markdown source (chat.selected_text), not the painted lines."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A frame renders only the widgets and rows that show in it (CPU per frame while streaming).
        textual_private.render_only_what_shows(self)

    def get_selected_text(self) -> str | None:
        return selected_text(self.selections)


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
            yield OrderedInput(value=self._value, placeholder=self._placeholder, id="name-input", select_on_focus=True)
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
    """A yes/no question: y confirms, n or escape cancels, enter gives `default`.

    A question whose yes loses something (delete) passes default=False, so an enter typed
    ahead (or pressed out of habit) never confirms it."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm-no"),
        Binding("enter", "default", "Default", id="confirm-default", show=False),
    ]

    def __init__(self, question: str, detail: str = "", title: str = "confirm", default: bool = True) -> None:
        super().__init__(classes="modal")
        self._question = question
        self._detail = detail
        self._title = title
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self._title
            yield Static(Content(one_line(self._question)), classes="dialog-question")
            if self._detail:
                yield Static(Content.styled(visible(self._detail), "dim"))
            help = "y / enter: yes · n / esc: no" if self.default else "y: yes · n / esc / enter: no"
            yield Static(Content.styled(help, "dim"), classes="dialog-help")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_default(self) -> None:
        self.dismiss(self.default)


class QuitScreen(OnceModal[str]):
    """Quit while replies stream in the engine host: l / enter leaves them running (they finish
    and are saved; `muxtui` shows them again), s stops them all (saved as interrupted) and
    quits, c / esc cancels. Answers "leave", "stop" or "cancel"."""

    BINDINGS = [
        Binding("l,enter", "answer('leave')", "Leave running", id="quit-leave"),
        Binding("s", "answer('stop')", "Stop all", id="quit-stop"),
        Binding("c,escape", "answer('cancel')", "Cancel", id="quit-cancel"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__(classes="modal")
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "quit"
            yield Static(Content(one_line(self._question)), classes="dialog-question")
            yield Static(Content.styled(
                "They go on in the muxtui engine and are saved; run muxtui again to see them.", "dim"))
            yield Static(Content.styled("l / enter: leave running and quit · s: stop all and quit · "
                                        "c / esc: cancel", "dim"), classes="dialog-help")

    def action_answer(self, choice: str) -> None:
        self.dismiss(choice)


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
            yield OrderedInput(placeholder="filter, or type provider:model", id="model-input")
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


class TrashPicker(OnceModal[str | None]):
    """Deleted workspaces, most recent first: enter restores the highlighted one."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="modal-cancel")]

    def __init__(self, entries: list[tuple[str, str, str]], keep_days: int) -> None:
        """`entries`: (key, name, detail) per trashed workspace."""
        super().__init__(classes="modal")
        self.entries = entries
        self.keep_days = keep_days

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog model-dialog") as dialog:
            dialog.border_title = "restore deleted workspace"
            options = [Option(Content(one_line(name, 50)) + Content.styled(f"  {one_line(detail)}", "dim"))
                       for _, name, detail in self.entries]
            yield OptionList(*options, id="trash-list")
            yield Static(Content.styled(f"enter restores · esc cancels · kept {self.keep_days} days", "dim"),
                         classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.entries[event.option_index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)


def _when(ts: Any, now: float) -> str:
    if not isinstance(ts, (int, float)):
        return "?"
    return f"{datetime.fromtimestamp(ts).strftime('%Y-%m-%d %H:%M')} ({ago(now - ts)})"


def is_own_interrupt(group: dict[str, Any]) -> bool:
    """A group of streams the user stopped (esc, quit, delete): not an error of the provider."""
    return str(group.get("signature", "")).startswith("interrupted/")


class ErrorsScreen(OnceModal[None]):
    """The error log grouped by signature: count, first/last seen, one sample with details.

    The user's own interrupts are logged too (the log is complete) but hidden by default:
    i shows or hides them."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="errors-close"),
        Binding("i", "toggle_interrupts", "Interrupts", id="errors-toggle-interrupts"),
    ]

    show_interrupts: reactive[bool] = reactive(False, recompose=True)

    def __init__(self, groups: list[dict[str, Any]], workspace_names: dict[str, str],
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(classes="modal")
        self.all_groups = groups
        self.names = workspace_names
        self.clock = clock

    @property
    def groups(self) -> list[dict[str, Any]]:
        """The groups shown."""
        if self.show_interrupts:
            return self.all_groups
        return [g for g in self.all_groups if not is_own_interrupt(g)]

    def compose(self) -> ComposeResult:
        now = self.clock()
        groups = self.groups
        hidden = sum(g["count"] for g in self.all_groups if is_own_interrupt(g)) if not self.show_interrupts else 0
        key = self.app.key_for("errors-toggle-interrupts", "i") if hasattr(self.app, "key_for") else "i"
        with VerticalScroll(classes="dialog errors-dialog") as box:
            total = sum(g["count"] for g in groups)
            box.border_title = f"errors · {total} in {len(groups)} group{'s' if len(groups) != 1 else ''}"
            if hidden:
                box.border_subtitle = f"{hidden} of your own interrupts hidden ({key} shows) · esc closes"
            elif self.show_interrupts:
                box.border_subtitle = f"your own interrupts shown ({key} hides) · esc closes"
            else:
                box.border_subtitle = "esc closes"
            if not groups:
                yield Static(Content.styled("No errors logged. Every stream closed cleanly.", "$success"))
            for g in groups:
                yield Static(self._group(g, now), classes="error-group")
            yield Static(Content.styled("the full log: muxtui logs --errors", "dim"), classes="dialog-help")

    def action_toggle_interrupts(self) -> None:
        self.show_interrupts = not self.show_interrupts

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
