"""Dialogs for conversation control: workspace settings, key help (F1), picking a code block to
copy, and searching the prompt history. All text from users and models is shown as literal
``Content``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from muxtui.client import settings as settings_mod
from muxtui.ui.navigation import CodeBlock
from muxtui.ui.ordered_keys import OrderedInput, OrderedTextArea
from muxtui.ui.safe import one_line, visible
from muxtui.ui.screens import OnceModal


# ---- settings -------------------------------------------------------------------------------------

class SettingsScreen(OnceModal[dict | None]):
    """Edit a workspace's request settings; an empty field means "the default"."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="settings-save", priority=True),
        Binding("escape", "cancel", "Cancel", id="modal-cancel"),
    ]

    def __init__(self, current: dict[str, Any], defaults: dict[str, Any], presets: dict[str, dict[str, Any]],
                 provider_type: str = "") -> None:
        super().__init__(classes="modal")
        self.current = dict(current)
        self.defaults = defaults
        self.presets = presets
        self.provider_type = provider_type

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog settings-dialog") as box:
            box.border_title = "workspace settings"
            if self.presets:
                yield Label("preset")
                yield Select([(one_line(n, 40), n) for n in self.presets], prompt="apply a preset…",
                             id="preset", allow_blank=True)
            yield Label("system prompt")
            yield OrderedTextArea(self.current.get("system_prompt", ""), id="system_prompt", soft_wrap=True,
                                  show_line_numbers=False, tab_behavior="focus")
            with Horizontal(classes="settings-row"):
                yield self._field("temperature", "0 – 2")
                yield self._field("max_tokens", "tokens")
            with Horizontal(classes="settings-row"):
                with Vertical():
                    yield Label("reasoning effort (OpenAI)")
                    yield Select([(e, e) for e in settings_mod.EFFORTS], id="reasoning_effort",
                                 value=self.current.get("reasoning_effort") or Select.NULL, allow_blank=True,
                                 prompt=f"default{self._default_note('reasoning_effort')}")
                yield self._field("thinking_budget", "tokens (Anthropic)")
            yield Static(Content.styled("ctrl+s saves · tab next field · esc cancels · empty = default", "dim"),
                         classes="dialog-help")

    def _default_note(self, key: str) -> str:
        value = self.defaults.get(key)
        return f" ({value})" if value not in (None, "") else ""

    def _field(self, key: str, hint: str) -> Vertical:
        value = self.current.get(key)
        box = Vertical(
            Label(key.replace("_", " ")),
            OrderedInput("" if value is None else f"{value:g}" if isinstance(value, float) else str(value),
                  placeholder=f"default{self._default_note(key)} · {hint}", id=key),
        )
        return box

    def on_mount(self) -> None:
        self.query_one("#system_prompt", TextArea).focus()

    @on(Select.Changed, "#preset")
    def _preset(self, event: Select.Changed) -> None:
        preset = self.presets.get(str(event.value)) if event.value is not Select.NULL else None
        if not preset:
            return
        self.query_one("#system_prompt", TextArea).load_text(preset.get("system_prompt", ""))
        for key in ("temperature", "max_tokens", "thinking_budget"):
            value = preset.get(key)
            self.query_one(f"#{key}", Input).value = "" if value is None else f"{value:g}" if isinstance(value, float) \
                else str(value)
        effort = preset.get("reasoning_effort")
        self.query_one("#reasoning_effort", Select).value = effort or Select.NULL

    def collect(self) -> dict[str, Any]:
        """The fields as settings; ValueError names the bad one."""
        raw: dict[str, Any] = {"system_prompt": self.query_one("#system_prompt", TextArea).text.strip() or None}
        for key, kind in (("temperature", float), ("max_tokens", int), ("thinking_budget", int)):
            text = self.query_one(f"#{key}", Input).value.strip()
            if text:
                try:
                    raw[key] = kind(text)
                except ValueError:
                    raise ValueError(f"{key.replace('_', ' ')}: '{text}' is not a {'number' if kind is float else 'whole number'}") from None
        effort = self.query_one("#reasoning_effort", Select).value
        if effort is not Select.NULL:
            raw["reasoning_effort"] = effort
        return settings_mod.validate(raw)

    @on(Input.Submitted)
    def action_save(self) -> None:
        try:
            settings = self.collect()
        except ValueError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return
        self.dismiss(settings)

    def action_cancel(self) -> None:
        self.dismiss(None)


# ---- help -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HelpRow:
    keys: str
    description: str
    binding_id: str


class HelpScreen(OnceModal[None]):
    """Every key of the screen it was opened on, from the live keymap (rebindings included)."""

    BINDINGS = [Binding("escape,q,f1", "close", "Close", id="help-close")]

    def __init__(self, sections: list[tuple[str, list[HelpRow]]], title: str = "keys") -> None:
        super().__init__(classes="modal")
        self.sections = sections
        self._title = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help-dialog") as box:
            box.border_title = self._title
            box.border_subtitle = "esc closes · rebind under \\[keys] in config.toml"
            for title, rows in self.sections:
                if not rows:
                    continue
                width = max(len(r.keys) for r in rows)
                lines = [Content.styled(title, "bold $primary")]
                for r in rows:
                    lines.append(Content.assemble(
                        (r.keys.ljust(width + 2), "bold $accent"), r.description + "  ",
                        (r.binding_id, "dim")))
                yield Static(Content("\n").join(lines), classes="help-section")

    def action_close(self) -> None:
        self.dismiss(None)


# ---- picking a code block -------------------------------------------------------------------------

class CodeBlockPicker(OnceModal[int | None]):
    """Which code block of a message to copy: 1-9 or enter."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="modal-cancel"),
        *[Binding(str(n), f"pick({n})", show=False) for n in range(1, 10)],
    ]

    def __init__(self, blocks: list[CodeBlock]) -> None:
        super().__init__(classes="modal")
        self.blocks = blocks

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog code-dialog") as box:
            box.border_title = f"copy a code block · {len(self.blocks)}"
            yield OptionList(*[Option(Content.assemble((f"{n}. ", "bold $accent"), one_line(b.preview, 90)))
                               for n, b in enumerate(self.blocks, 1)], id="code-list")
            yield Static(Content.styled("1-9 or enter copies · esc cancels", "dim"), classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        self.query_one(OptionList).highlighted = 0

    def action_pick(self, n: int) -> None:
        if 1 <= n <= len(self.blocks):
            self.dismiss(n - 1)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_index)

    def action_cancel(self) -> None:
        self.dismiss(None)


# ---- searching the prompt history -----------------------------------------------------------------

class HistorySearch(OnceModal[str | None]):
    """Earlier prompts (this workspace first, then all others), filtered as you type."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="modal-cancel"),
        Binding("down", "focus_list", show=False),
    ]
    LIMIT = 200

    def __init__(self, prompts: list[str]) -> None:
        super().__init__(classes="modal")
        self.prompts = prompts
        self._shown: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog model-dialog") as box:
            box.border_title = "prompt history"
            yield OrderedInput(placeholder="search earlier messages", id="history-input")
            yield OptionList(id="history-list")
            yield Static(Content.styled("enter puts it in the composer · ↓ list · esc cancels", "dim"),
                         classes="dialog-help")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, query: str) -> None:
        words = query.lower().split()
        self._shown = [p for p in self.prompts if all(w in p.lower() for w in words)][: self.LIMIT]
        ol = self.query_one(OptionList)
        ol.set_options([Option(Content(one_line(visible(p), 200))) for p in self._shown])
        if self._shown:
            ol.highlighted = 0

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        ol = self.query_one(OptionList)
        if self._shown and ol.highlighted is not None:
            self.dismiss(self._shown[ol.highlighted])

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._shown[event.option_index])

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
