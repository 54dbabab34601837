"""Moving through the conversation from the keyboard: a message cursor in the chat pane.

``MessageChatView`` is the chat pane (``ChatView``) plus a cursor: when the pane has focus (the
"focus-messages" key), up/down move a highlighted cursor between messages and single keys act on
the message under it (copy, copy a code block, edit, fork, retry). The actions themselves live in
the app (``muxtui.ui.conversation``); this widget only knows which message is selected and posts
``MessageAction`` for it.

``code_blocks`` finds the fenced and indented code blocks of a message's Markdown source, with
their exact source text (what a copy must give back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from muxtui.ui.chat import ChatView
from muxtui.ui.messages import AssistantMessage, UserMessage

_PARSER = MarkdownIt("commonmark")


@dataclass(frozen=True, slots=True)
class CodeBlock:
    language: str
    text: str

    @property
    def preview(self) -> str:
        first = next((line for line in self.text.splitlines() if line.strip()), "")
        lines = self.text.count("\n") + (0 if self.text.endswith("\n") else 1)
        return f"{self.language or 'code'} · {lines} line{'s' if lines != 1 else ''} · {first.strip()[:60]}"


def code_blocks(markdown: str) -> list[CodeBlock]:
    blocks = []
    for token in _PARSER.parse(markdown or ""):
        if token.type in ("fence", "code_block"):
            blocks.append(CodeBlock((token.info or "").strip().split(" ")[0], token.content))
    return blocks


MESSAGE_BINDINGS = [
    Binding("up,k", "cursor(-1)", "Previous message", id="message-up", show=False),
    Binding("down,j", "cursor(1)", "Next message", id="message-down", show=False),
    Binding("home", "cursor_end(-1)", "First message", id="message-first", show=False),
    Binding("end", "cursor_end(1)", "Last message", id="message-last", show=False),
    Binding("y", "act('copy')", "Copy", id="message-copy"),
    Binding("c", "act('copy_code')", "Copy code", id="message-copy-code"),
    Binding("e", "act('edit')", "Edit", id="message-edit"),
    Binding("f", "act('fork')", "Fork", id="message-fork"),
    Binding("r", "act('retry')", "Retry", id="message-retry"),
    Binding("escape,i,tab", "leave", "Back to composer", id="message-leave"),
]
# Keys on a focused queued message (the chat pane's bindings apply to its children too).
QUEUED_BINDINGS = [Binding("s,enter", "send_queued_now", "Send now", id="queued-send-now", show=False)]


class MessageChatView(ChatView, can_focus=True):
    """ChatView with a message cursor while it has focus."""

    BINDINGS = [*MESSAGE_BINDINGS, *QUEUED_BINDINGS]

    class MessageAction(Message):
        """The user asked for `action` on a message (`message_id` "" for the live reply)."""

        def __init__(self, action: str, widget: Widget) -> None:
            super().__init__()
            self.action = action
            self.widget = widget
            self.message_id: str = getattr(widget, "message_id", "")

    class Leave(Message):
        """Back to the composer."""

    class SendQueuedNow(Message):
        """On a focused queued message: send it now."""

        def __init__(self, item_id: str) -> None:
            super().__init__()
            self.item_id = item_id

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cursor: Widget | None = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # These keys belong to the message cursor only while the pane itself has focus (a focused
        # queued message inside it keeps its own keys); send_queued_now only on a queued message.
        if action in ("cursor", "cursor_end", "act", "leave"):
            return self.has_focus
        if action == "send_queued_now":
            from muxtui.ui.chat import QueuedItem

            return isinstance(self.app.focused, QueuedItem)
        return super().check_action(action, parameters)

    # ---- the cursor -------------------------------------------------------------------------
    def messages(self) -> list[Widget]:
        return [w for w in self.children if isinstance(w, (UserMessage, AssistantMessage))]

    def _place(self, widget: Widget | None) -> None:
        if self.cursor is not None and self.cursor is not widget:
            self.cursor.remove_class("-selected")
        self.cursor = widget
        if widget is not None:
            widget.add_class("-selected")  # on_blur takes it off
            self.release_anchor()  # the cursor, not the newest token, decides what is in view
            self.scroll_to_widget(widget, animate=False, top=widget.outer_size.height > self.size.height)

    def _valid_cursor(self) -> Widget | None:
        cursor = self.cursor
        if cursor is not None and cursor.is_attached and cursor.parent is self:
            return cursor
        return None

    def on_focus(self, event: events.Focus) -> None:
        messages = self.messages()
        self._place(self._valid_cursor() or (messages[-1] if messages else None))

    def on_blur(self, event: events.Blur) -> None:
        if self.cursor is not None:
            self.cursor.remove_class("-selected")

    async def action_cursor(self, step: int) -> None:
        messages = self.messages()
        if not messages:
            return
        cursor = self._valid_cursor()
        if cursor is None:
            self._place(messages[-1])
            return
        index = messages.index(cursor) + step
        if index < 0:
            if await self.load_earlier():
                self.call_after_refresh(self._step_after_load, cursor)
            return
        self._place(messages[min(index, len(messages) - 1)])

    def _step_after_load(self, cursor: Widget) -> None:
        messages = self.messages()
        if cursor in messages and messages.index(cursor) > 0:
            self._place(messages[messages.index(cursor) - 1])

    def action_cursor_end(self, direction: int) -> None:
        messages = self.messages()
        if messages:
            self._place(messages[0] if direction < 0 else messages[-1])
            if direction > 0:
                self.anchor()

    def action_act(self, action: str) -> None:
        cursor = self._valid_cursor()
        if cursor is None:
            self.notify("no message selected", severity="warning")
            return
        self.post_message(self.MessageAction(action, cursor))

    def action_send_queued_now(self) -> None:
        from muxtui.ui.chat import QueuedItem

        focused = self.app.focused
        if isinstance(focused, QueuedItem):
            self.post_message(self.SendQueuedNow(focused.item_id))

    def action_leave(self) -> None:
        self.anchor()  # back to typing: follow the newest reply again
        self.post_message(self.Leave())

    def select_message(self, message_id: str) -> bool:
        """Put the cursor on a message by id (tests, and after actions)."""
        for w in self.messages():
            if getattr(w, "message_id", None) == message_id:
                self._place(w)
                return True
        return False
