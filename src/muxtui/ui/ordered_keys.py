"""Editing keys applied in the order they were typed, in the composer and every text field.

Textual inserts a letter in the focused widget's own key handler, but resolves a binding only
after the key has bubbled up to the app. The editing keys of TextArea and Input (backspace, the
arrows, home, ctrl+w/u/k...) are bindings, so when keys arrive in one read (a fast typist over
SSH, tmux send-keys) the letters typed after such a key were inserted before it ran: "helo",
backspace, "lo" gave "helol". ``run_now`` runs the widget's binding for a key at once, from its
key handler; the action and its ``check_action`` are the same, and only a key the widget itself
binds is taken, so which binding wins is unchanged (priority bindings already ran at the app).
"""

from __future__ import annotations

from typing import Iterable

from textual import events
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Input, TextArea

__all__ = ["OrderedInput", "OrderedTextArea", "editing_actions", "run_now"]


def editing_actions(bindings: Iterable[BindingType]) -> dict[str, str]:
    """key -> action string, for a widget class's BINDINGS."""
    return {key.strip(): binding.action for binding in Binding.make_bindings(bindings)
            for key in binding.key.split(",") if key.strip()}


async def run_now(widget: Widget, event: events.Key, actions: dict[str, str]) -> bool:
    """Run the widget's binding for this key now; True (and the key stopped) when it ran."""
    action = actions.get(event.key)
    if action is None or not await widget.app.run_action(action, widget):
        return False
    event.stop()  # done: it must not bubble to the app's binding check and run a second time
    event.prevent_default()
    return True


_INPUT_ACTIONS = editing_actions(Input.BINDINGS)


class OrderedInput(Input):
    """An Input whose editing keys apply in the order typed (see the module docstring)."""

    async def on_key(self, event: events.Key) -> None:
        await run_now(self, event, _INPUT_ACTIONS)


_TEXT_AREA_ACTIONS = editing_actions(TextArea.BINDINGS)


class OrderedTextArea(TextArea):
    """A TextArea whose editing keys apply in the order typed (the composer does the same in its
    own key handler, after its send and newline keys)."""

    async def on_key(self, event: events.Key) -> None:
        if not self.read_only:
            await run_now(self, event, _TEXT_AREA_ACTIONS)
