"""The composer: a multi-line TextArea where enter sends and alt+enter / ctrl+j add a newline.

Send and newline are handled in the composer's own key handler, in the order keys arrive: over
SSH keys come in bursts, and a binding resolved at the app level could fire before the letters
typed just before it reached the TextArea (a message sent without its last word, a newline in
the wrong place). The keys still come from the bindings (ids "send", "newline") so [keys] in
config.toml can change them. TextArea's own editing keys (backspace, the arrows, ctrl+w...)
are run here too (muxtui.ui.ordered_keys).

It knows nothing about the engine: it posts ``Submitted`` and the app decides (send, queue, or
save an edited queued message). A submitted text is held as *pending* until the app reports the
engine accepted it (``accepted``) or refused it (``refused``, which puts it back): it is never
lost, and the drafts saved to ui.json include it until then.

A large paste (muxtui.ui.large_text) is not inserted: a chip ("⟦pasted 2.0 MB, 40,000 lines #1⟧")
stands for it and is expanded into the full text wherever the text leaves the composer
(``Submitted``, ``draft``). Deleting the chip drops the paste. A large draft or queued message
loaded back into the composer comes back as a chip too.

Attachments are chips too ("⟦📎 main.py · 2.1 KB #2⟧", muxtui.ui.attach_chips): added by the app
(the path picker) or by a paste of more than ``paste_lines`` lines (uploaded by the app in the
background: ``PastedText``). They stay in the text until it is sent: ``Submitted`` carries the
text without them and the attachments apart. ``@path`` completion: muxtui.ui.at_paths.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea

from muxtui.config import COMPOSER_KEYS
from muxtui.ui import attach_chips, large_text
from muxtui.ui.attach_chips import ComposerAttachment
from muxtui.ui.ordered_keys import editing_actions, run_now
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
_EDITING_KEYS = editing_actions(TextArea.BINDINGS)  # run in order with the typing (on_key)


def _join(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p.strip())


class Composer(TextArea):
    BINDINGS = [
        Binding("enter", "submit", "Send", id="send"),
        Binding("alt+enter,ctrl+j", "newline", "Newline", id="newline", show=False),
    ]

    class Submitted(Message):
        def __init__(self, composer: "Composer", text: str, editing: str | None,
                     attachments: list[ComposerAttachment] | None = None, draft: str | None = None) -> None:
            super().__init__()
            self.composer = composer
            self.text = text  # what is sent: the chips of the attachments taken out
            self.editing = editing  # id of the queued message being edited, if any
            self.workspace_id = composer.workspace_id  # where it was typed, whatever happens next
            self.attachments = attachments or []
            self.draft = text if draft is None else draft  # as typed (chips in): what a refusal puts back

    class PastedText(Message):
        """A long paste became an attachment chip: the app uploads its text."""

        def __init__(self, composer: "Composer", attachment: ComposerAttachment) -> None:
            super().__init__()
            self.composer = composer
            self.attachment = attachment

    class RecallQueued(Message):
        """up in an empty composer: pull the last queued message back for editing."""

    class HistoryStep(Message):
        """up on the first line / down on the last: walk the earlier prompts (-1 older, 1 newer)."""

        def __init__(self, direction: int) -> None:
            super().__init__()
            self.direction = direction

    class Resend(Message):
        """An earlier user message was edited: resend it, cutting the conversation after it."""

        def __init__(self, composer: "Composer", text: str, seq: int,
                     attachments: list[ComposerAttachment] | None = None) -> None:
            super().__init__()
            self.text, self.seq = text, seq
            self.attachments = attachments or []
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
        self.attachments: dict[int, ComposerAttachment] = {}  # chip number -> attachment
        self.paste_lines = 0  # a paste of more lines becomes an attachment (0: never)
        self.paste_max_bytes = 0  # ... unless bigger than this (the text attachment limit)
        self.at_paths = None  # an at_paths.AtPathCompleter, set by the app
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
        if self.at_paths is not None and self.at_paths.key(self, event.key):
            event.stop()
            event.prevent_default()
            return
        if self._matches(event, self._keys("send")):
            action = self.action_submit
        elif self._matches(event, self._keys("newline")):
            action = self.action_newline
        else:
            await run_now(self, event, _EDITING_KEYS)  # backspace, arrows... (muxtui.ui.ordered_keys)
            return  # otherwise TextArea's own handler runs next (MRO dispatch)
        event.stop()
        event.prevent_default()  # stops the MRO walk: TextArea must not insert "\n" too
        action()

    def action_submit(self) -> None:
        raw = self.text
        draft = self.expand(raw)
        attachments = self.attachments_in(draft)
        text = attach_chips.strip(draft)
        self.history_index = None
        if self.at_paths is not None:
            self.at_paths.close()
        if self.resend_seq is not None and self.editing is not None:
            self.post_message(self.Resend(self, text, self.resend_seq, attachments))
            return
        if self.editing is not None:
            self.post_message(self.Submitted(self, text, self.editing, attachments, draft))
            return
        if not text.strip() and not attachments:
            return
        self.pending.append(draft)
        self.load_text("")  # keep typing the next message while this one is handed over
        for match in large_text.CHIP.finditer(raw):  # sent: those texts now live in `pending`
            self._chips.pop(int(match.group(1)), None)
        # (attachment chips stay known until the engine has accepted: a refusal puts them back)
        self.post_message(self.Submitted(self, text, None, attachments, draft))

    # ---- large pastes -------------------------------------------------------------------------
    async def on_paste(self, event: events.Paste) -> None:
        if self.read_only:
            return
        text = event.text
        lines = text.count("\n") + text.count("\r") - text.count("\r\n") + 1
        as_attachment = 0 < self.paste_lines < lines and (
            not self.paste_max_bytes or len(text) * 4 <= self.paste_max_bytes
            or len(text.encode("utf-8", "surrogatepass")) <= self.paste_max_bytes)
        if not as_attachment and not large_text.is_large(text):
            return  # TextArea's own handler inserts it (MRO dispatch)
        event.stop()
        event.prevent_default()
        typed = large_text.as_typed(text)
        if as_attachment:
            count = typed.count("\n") + (0 if typed.endswith("\n") else 1)
            self._chip_count += 1
            attachment = ComposerAttachment(self._chip_count, f"pasted text, {count:,} lines", "text",
                                            len(typed.encode("utf-8", "surrogatepass")), text=typed)
            self.attachments[attachment.number] = attachment
            self._insert_chip(attachment.chip + " ")
            self.post_message(self.PastedText(self, attachment))
            return
        self._insert_chip(self._chip(typed))

    def _insert_chip(self, chip: str) -> None:
        result = self.replace(chip, *self.selection, maintain_selection_offset=False)
        if result:
            self.move_cursor(result.end_location)
        self.focus()

    # ---- attachments --------------------------------------------------------------------------
    def add_attachment(self, ref: dict) -> ComposerAttachment:
        """A chip for an attachment the engine has (`ref`), at the cursor."""
        self._chip_count += 1
        attachment = ComposerAttachment.from_ref(self._chip_count, ref)
        self.attachments[attachment.number] = attachment
        start, end = self.selection
        before = self.document.get_text_range((start[0], max(0, start[1] - 1)), start) if start[1] else ""
        self._insert_chip(("" if not before or before.isspace() else " ") + attachment.chip + " ")
        return attachment

    def attachments_in(self, text: str) -> list[ComposerAttachment]:
        return [self.attachments[n] for n in attach_chips.numbers_in(text) if n in self.attachments]

    def attachment_stored(self, number: int, ref: dict) -> None:
        """The engine has the pasted text of chip `number`: the chip keeps only its ref."""
        attachment = self.attachments.get(number)
        if attachment is not None:
            attachment.ref, attachment.text = dict(ref), None

    def attachment_refused(self, number: int) -> None:
        """The engine refused a pasted text: it goes back into the text where its chip is."""
        attachment = self.attachments.pop(number, None)
        if attachment is None or attachment.text is None:
            return
        text = attachment.text
        replacement = self._chip(text) if large_text.is_large(text) else text
        where = self.text.find(attachment.chip)
        if where < 0:
            return  # deleted meanwhile
        length = len(attachment.chip) + (self.text[where + len(attachment.chip):][:1] == " ")  # and its space
        start = self.document.get_location_from_index(where)
        end = self.document.get_location_from_index(where + length)
        self.replace(replacement, start, end)

    def _with_chips(self, text: str, refs: list[dict] | None) -> str:
        """`text` (a large one as a chip) followed by chips for `refs`."""
        shown = self._chip(text) if large_text.is_large(text) else text
        chips = []
        named = attach_chips.at_names(text)  # files its @path tokens name: attached again on send
        for ref in refs or ():
            if isinstance(ref, dict) and ref.get("name") not in named:
                self._chip_count += 1
                attachment = ComposerAttachment.from_ref(self._chip_count, ref)
                self.attachments[attachment.number] = attachment
                chips.append(attachment.chip)
        if not chips:
            return shown
        return (shown + ("\n" if shown else "") + " ".join(chips) + " ").lstrip("\n")

    @property
    def draft_attachments(self) -> dict[str, dict]:
        """The refs of the chips in the draft (kept in ui.json with the draft's text); read from
        the texts as they are, not expanded (a large paste is not copied on every keystroke)."""
        typed = self._stashed_draft if self.editing is not None else self.text
        if self.editing is None and self.history_index is not None:
            typed = self._history_stash
        return {str(a.number): a.ref for text in (*self.pending, typed) for a in self.attachments_in(text) if a.ref}

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

    def _load(self, text: str, refs: list[dict] | None = None) -> None:
        """load_text, with a large text as a chip (and chips for attachments)."""
        self.load_text(self._with_chips(text, refs))

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

    def on_blur(self) -> None:
        if self.at_paths is not None:
            self.at_paths.close()

    def _on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self.at_paths is not None:
            self.at_paths.changed(self)
        if self.history_index is not None and self.text != self._history_text:
            self.history_index = None  # typed into a recalled prompt: it is the draft now
            self._history_text = None
            self._history_stash = ""

    # ---- editing an earlier message -------------------------------------------------------
    def begin_resend(self, seq: int, text: str, attachments: list[dict] | None = None) -> None:
        self.begin_edit(f"resend:{seq}", text, 0, attachments)
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
    def begin_edit(self, item_id: str, text: str, number: int, attachments: list[dict] | None = None) -> None:
        if self.editing is None:
            self._stashed_draft = self.text
        self.editing = item_id
        self.editing_number = number
        self._load(text, attachments)
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

    def switch_to(self, workspace_id: str, draft: str, attachments: dict[str, dict] | None = None) -> None:
        """Show another workspace's draft (pending texts stay in the old one's saved draft) and
        its attachments (``draft_attachments`` as saved)."""
        self.pending.clear()
        self._chips.clear()  # the old draft was saved expanded
        self.attachments.clear()
        for number, ref in (attachments or {}).items():
            if str(number).isdigit() and isinstance(ref, dict):
                self.attachments[int(number)] = ComposerAttachment.from_ref(int(number), ref)
        self._chip_count = max([self._chip_count, *self.attachments])
        if self.at_paths is not None:
            self.at_paths.close()
        self.workspace_id = workspace_id
        self.set_draft(draft)

    def set_draft(self, text: str, attachments: list[dict] | None = None, typed: str = "") -> None:
        """`text` (and chips for `attachments`) as the draft, before what was `typed` (if any)."""
        self.editing = None
        self.resend_seq = None
        self.history_index = None
        self._stashed_draft = ""
        self.border_title = SEND_TITLE
        self.remove_class("-editing")
        self._load(text, attachments)
        if typed.strip():
            self.load_text(_join(self.text, typed))
        self.move_cursor(self.document.end)

    @property
    def draft(self) -> str:
        """What to keep for this workspace: pending texts, then what is typed (or stashed)."""
        typed = self._stashed_draft if self.editing is not None else self.text
        if self.editing is None and self.history_index is not None:
            typed = self._history_stash  # a recalled prompt on show: the draft is what was typed
        return _join(*self.pending, self.expand(typed))
