"""The composer: a multi-line TextArea where enter sends and alt+enter / ctrl+j add a newline.

Send and newline are handled in the composer's own key handler, in the order keys arrive: over
SSH keys come in bursts, and a binding resolved at the app level could fire before the letters
typed just before it reached the TextArea (a message sent without its last word, a newline in
the wrong place). The keys still come from the bindings (ids "send", "newline") so [keys] in
config.toml can change them.

It knows nothing about the engine: it posts ``Submitted`` and the app decides (send, queue, or
save an edited queued message). A submitted text is held as *pending* until the app reports the
engine accepted it (``accepted``) or refused it (``refused``, which puts it back): it is never
lost, and the drafts saved to ui.json include it until then.

A large paste (muxtui.ui.large_text) is not inserted: a chip ("⟦pasted 2.0 MB, 40,000 lines #1⟧")
stands for it and is expanded into the full text wherever the text leaves the composer
(``Submitted``, ``draft``). Deleting the chip drops the paste. A large draft or queued message
loaded back into the composer comes back as a chip too.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from muxtui.config import COMPOSER_KEYS
from muxtui.ui import large_text
from muxtui.ui.textual_private import app_keymap

SEND_TITLE = "message · enter send · alt+enter newline"

# Code points that make a terminal draw their neighbours as one glyph, or change a glyph's
# width: the zero-width joiner (family emoji), the emoji presentation selector (❤️) and the
# skin-tone modifiers. The TextArea lays text out one code point at a time, so a terminal that
# joins them drew the line narrower or wider than laid out and broke the composer's border
# (which way depends on the terminal). On screen they become a zero-width space, which joins
# nothing and has the same width; the text itself (what is sent) keeps them.
_UNJOINED = str.maketrans({"\u200d": "\u200b", "\ufe0f": "\u200b",
                           **{chr(c): "\u200b" for c in range(0x1F3FB, 0x1F400)}})
DEFAULT_KEYS = {action: tuple(keys.split(",")) for action, keys in COMPOSER_KEYS.items()}


def _join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p.strip())


class Composer(TextArea):
    BINDINGS = [
        Binding("enter", "submit", "Send", id="send"),
        Binding("alt+enter,ctrl+j", "newline", "Newline", id="newline", show=False),
    ]

    class Submitted(Message):
        def __init__(self, composer: "Composer", text: str, editing: str | None) -> None:
            super().__init__()
            self.composer = composer
            self.text = text
            self.editing = editing  # id of the queued message being edited, if any
            self.workspace_id = composer.workspace_id  # where it was typed, whatever happens next

    class RecallQueued(Message):
        """up in an empty composer: pull the last queued message back for editing."""

    class HistoryStep(Message):
        """up on the first line / down on the last: walk the earlier prompts (-1 older, 1 newer)."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    class Resend(Message):
        """An earlier user message was edited: resend it, cutting the conversation after it."""

        def __init__(self, composer: "Composer", text: str, seq: int) -> None:
            super().__init__()
            self.text, self.seq = text, seq
            self.workspace_id = composer.workspace_id

    def __init__(self, *, animate: bool = True, **kwargs) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, tab_behavior="focus", **kwargs)
        self.cursor_blink = animate
        self.editing: str | None = None  # queued message id being edited
        self.editing_number = 0
        self.pending: list[str] = []  # submitted, not yet accepted by the engine
        self.workspace_id: str | None = None  # set by the app: whose draft this is
        self._stashed_draft = ""
        self._chips: dict[int, str] = {}  # chip number -> the large text it stands for
        self._chip_count = 0
        self.border_title = SEND_TITLE
        self.resend_seq: int | None = None  # editing an earlier user message (seq) to resend
        self.history_index: int | None = None  # walking the prompt history (0 = newest)
        self._history_stash = ""
        self._history_text: str | None = None  # what the walk put in; anything else is typing

    def get_line(self, line_index: int) -> Text:
        """A line as shown: joiners replaced (see _UNJOINED), same length and widths."""
        return Text(self.document.get_line(line_index).translate(_UNJOINED), end="", no_wrap=True)

    # ---- keys ---------------------------------------------------------------------------
    def _keys(self, binding_id: str) -> tuple[str, ...]:
        keymap = app_keymap(self.app)
        if binding_id in keymap:
            return tuple(k.strip() for k in keymap[binding_id].split(",") if k.strip())
        return DEFAULT_KEYS[binding_id]

    @staticmethod
    def _matches(event: events.Key, keys: tuple[str, ...]) -> bool:
        return event.key in keys or any(alias in keys for alias in event.aliases)

    async def on_key(self, event: events.Key) -> None:
        if self.read_only:
            return
        if self._matches(event, self._keys("send")):
            action = self.action_submit
        elif self._matches(event, self._keys("newline")):
            action = self.action_newline
        else:
            return  # TextArea's own handler runs next (MRO dispatch)
        event.stop()
        event.prevent_default()  # stops the MRO walk: TextArea must not insert "\n" too
        action()

    def action_submit(self) -> None:
        raw = self.text
        text = self.expand(raw)
        self.history_index = None
        if self.resend_seq is not None and self.editing is not None:
            self.post_message(self.Resend(self, text, self.resend_seq))
            return
        if self.editing is not None:
            self.post_message(self.Submitted(self, text, self.editing))
            return
        if not text.strip():
            return
        self.pending.append(text)
        self.load_text("")  # keep typing the next message while this one is handed over
        for match in large_text.CHIP.finditer(raw):  # sent: those texts now live in `pending`
            self._chips.pop(int(match.group(1)), None)
        self.post_message(self.Submitted(self, text, None))

    # ---- large pastes -------------------------------------------------------------------------
    async def on_paste(self, event: events.Paste) -> None:
        if self.read_only or not large_text.is_large(event.text):
            return  # TextArea's own handler inserts it (MRO dispatch)
        event.stop()
        event.prevent_default()
        chip = self._chip(large_text.as_typed(event.text))
        result = self.replace(chip, *self.selection, maintain_selection_offset=False)
        if result:
            self.move_cursor(result.end_location)
        self.focus()

    def _chip(self, text: str) -> str:
        self._chip_count += 1
        self._chips[self._chip_count] = text
        return large_text.chip(text, self._chip_count)

    def expand(self, text: str) -> str:
        """`text` with every chip replaced by the text it stands for (a chip may hold chips)."""
        for _ in range(len(self._chips) + 1):
            if "⟦pasted " not in text:
                break
            expanded = large_text.CHIP.sub(lambda m: self._chips.get(int(m.group(1)), m.group(0)), text)
            if expanded == text:
                break
            text = expanded
        return text

    def _load(self, text: str) -> None:
        """load_text, with a large text as a chip."""
        self.load_text(self._chip(text) if large_text.is_large(text) else text)

    def action_newline(self) -> None:
        if self.read_only:
            return
        start, end = self.selection
        self.replace("\n", start, end, maintain_selection_offset=False)

    def action_cursor_up(self, select: bool = False) -> None:
        if not select and not self.text and self.editing is None and not self.pending:
            self.post_message(self.RecallQueued())  # the app walks the history if nothing is queued
            return
        if not select and self.editing is None and self.cursor_location[0] == 0:
            self.post_message(self.HistoryStep(-1))
            return
        super().action_cursor_up(select)

    def action_cursor_down(self, select: bool = False) -> None:
        if (not select and self.history_index is not None and self.editing is None
                and self.cursor_location[0] == self.document.line_count - 1):
            self.post_message(self.HistoryStep(1))
            return
        super().action_cursor_down(select)

    # ---- prompt history -------------------------------------------------------------------
    def walk_history(self, entries: list[str], direction: int) -> bool:
        """Show the next older (-1) or newer (1) prompt of `entries` (newest first); walking back
        past the newest brings the draft back. False when there is nothing further."""
        index = -1 if self.history_index is None else self.history_index
        target = index - direction
        if target >= len(entries) or (self.history_index is None and direction > 0):
            return False
        if self.history_index is None:
            self._history_stash = self.text
        if target < 0:
            self.history_index = None
            self._history_text = None
            self.load_text(self._history_stash)
            self._history_stash = ""
            self.move_cursor(self.document.end)
        else:
            self.history_index = target
            self._history_text = entries[target]
            self.load_text(entries[target])
            # Older: the cursor on the first line, so the next up keeps walking.
            self.move_cursor((0, 0) if direction < 0 else self.document.end)
        return True

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self.history_index is not None and self.text != self._history_text:
            self.history_index = None  # typed into a recalled prompt: it is the draft now
            self._history_text = None
            self._history_stash = ""

    # ---- editing an earlier message -------------------------------------------------------
    def begin_resend(self, seq: int, text: str) -> None:
        self.begin_edit(f"resend:{seq}", text, 0)
        self.resend_seq = seq
        self.border_title = "edit · enter resends (cuts what follows) · esc cancels"

    # ---- the fate of a submitted text -------------------------------------------------------
    def accepted(self, text: str) -> None:
        if text in self.pending:
            self.pending.remove(text)

    def refused(self, text: str) -> None:
        """Put a refused text back in front of whatever was typed since."""
        self.accepted(text)
        self.set_draft(_join(text, self.text))

    # ---- editing a queued message -------------------------------------------------------
    def begin_edit(self, item_id: str, text: str, number: int) -> None:
        if self.editing is None:
            self._stashed_draft = self.text
        self.editing = item_id
        self.editing_number = number
        self._load(text)
        self.move_cursor(self.document.end)
        self.border_title = f"editing queued #{number} · enter saves · esc cancels"
        self.add_class("-editing")

    def end_edit(self) -> None:
        """Leave edit mode and bring back the draft that was there before."""
        if self.editing is None:
            return
        self.editing = None
        self.resend_seq = None
        self.load_text(self._stashed_draft)
        self._stashed_draft = ""
        self.move_cursor(self.document.end)
        self.border_title = SEND_TITLE
        self.remove_class("-editing")

    def switch_to(self, workspace_id: str, draft: str) -> None:
        """Show another workspace's draft (pending texts stay in the old one's saved draft)."""
        self.pending.clear()
        self._chips.clear()  # the old draft was saved expanded
        self.workspace_id = workspace_id
        self.set_draft(draft)

    def set_draft(self, text: str) -> None:
        self.editing = None
        self.resend_seq = None
        self.history_index = None
        self._stashed_draft = ""
        self.border_title = SEND_TITLE
        self.remove_class("-editing")
        self._load(text)
        self.move_cursor(self.document.end)

    @property
    def draft(self) -> str:
        """What to keep for this workspace: pending texts, then what is typed (or stashed)."""
        typed = self._stashed_draft if self.editing is not None else self.text
        if self.editing is None and self.history_index is not None:
            typed = self._history_stash  # a recalled prompt on show: the draft is what was typed
        return _join(*self.pending, self.expand(typed))
