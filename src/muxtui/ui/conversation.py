"""Conversation control in the app: message navigation and copy, edit and resend, fork, retry
from a message, continue, send now, prompt history, workspace settings, and F1 help.

``ConversationMixin`` is mixed into ``MuxApp``; it relies on the app's ``engine`` (the client API), ``view``, ``tracker``,
``chat``, ``composer``, ``current_id`` and ``select_workspace``. Its keys are ``APP_BINDINGS``
(in the app) and ``MESSAGE_BINDINGS`` (in the chat pane, while it has focus); every one has an id
for ``[keys]`` in config.toml and a palette command (``palette``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from muxtui.client import StorageError, events as ev, settings as settings_mod
from muxtui.ui import clipboard
from muxtui.ui.chat import QueuedItem
from muxtui.ui.messages import AssistantMessage
from muxtui.ui.composer import Composer
from muxtui.ui.dialogs import CodeBlockPicker, HelpRow, HelpScreen, HistorySearch, SettingsScreen
from muxtui.ui.navigation import MESSAGE_BINDINGS, QUEUED_BINDINGS, MessageChatView, code_blocks
from muxtui.ui.safe import one_line
from muxtui.ui.screens import ConfirmScreen
from muxtui.ui.textual_private import app_keymap, write_to_terminal

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp

log = logging.getLogger("muxtui.ui")

APP_BINDINGS = [
    Binding("f1", "help", "Help", id="help", show=False, priority=True),
    Binding("ctrl+up,f4", "focus_messages", "Messages", id="focus-messages", show=False, priority=True),
    Binding("ctrl+g", "continue_reply", "Continue", id="continue", show=False, priority=True),
    Binding("ctrl+s", "send_now", "Send now", id="send-now", show=False, priority=True),
    Binding("f5", "workspace_settings", "Settings", id="settings", show=False, priority=True),
    Binding("alt+r", "search_history", "History", id="history-search", show=False, priority=True),
]

MAIN_SCREEN_ACTIONS = frozenset({
    "focus_messages", "continue_reply", "send_now", "workspace_settings", "search_history", "fork_workspace",
    "copy_last_reply",
})
HISTORY_OTHER_LIMIT = 500  # prompts read from other workspaces per walk
NEW_NAME = "new workspace"
_AUTO_NAME = re.compile(r"^new workspace( \d+)?$")
AUTO_NAME_LENGTH = 40


_LEADING_MARKUP = re.compile(r"^(?:#{1,6}\s+|>\s*|[-*+]\s+|\d+[.)]\s+|```\S*\s*)+")
_INLINE_MARKUP = re.compile(r"\*\*|__|`+|~~")


def name_from_message(text: str) -> str:
    """A workspace name from a first message: its first non-empty line, cut at a word."""
    line = next((l.strip() for l in text.splitlines() if l.strip()), "")
    # Markdown syntax is not part of a name: "## **Plan** `x`" is named "Plan x".
    line = _LEADING_MARKUP.sub("", line)
    line = _INLINE_MARKUP.sub("", line).strip() or line
    line = " ".join(line.split())
    if len(line) <= AUTO_NAME_LENGTH:
        return line
    cut = line[:AUTO_NAME_LENGTH].rsplit(" ", 1)[0]
    return (cut if len(cut) > AUTO_NAME_LENGTH // 2 else line[:AUTO_NAME_LENGTH]) + "…"


def binding_ids() -> set[str]:
    return {b.id for b in (*APP_BINDINGS, *MESSAGE_BINDINGS, *QUEUED_BINDINGS) if b.id}


class ConversationMixin:
    """See the module docstring."""

    _history_cache: list[str] | None = None

    # ---- helpers ----------------------------------------------------------------------------
    def _message_of(self: MuxApp, widget) -> dict[str, Any] | None:
        """The engine's record for a message widget (the live reply: its text so far)."""
        ws_id = self.current_id
        if ws_id is None:
            return None
        message_id = getattr(widget, "message_id", "")
        if not message_id and isinstance(widget, AssistantMessage):
            return {"role": "assistant", "content": widget.source_text(), "live": True}
        view = self.view
        messages = view.messages if view is not None else []
        return next((m for m in reversed(messages) if m.get("id") == message_id), None)

    def _selected(self: MuxApp) -> dict[str, Any] | None:
        chat = self.chat
        cursor = chat.cursor if isinstance(chat, MessageChatView) else None
        return self._message_of(cursor) if cursor is not None else None

    async def copy_text(self: MuxApp, text: str, what: str = "") -> clipboard.CopyResult:
        """Copy with OSC 52 (and tmux / the system clipboard); the toast says what happened."""
        sequences: list[str] = []
        result = await asyncio.to_thread(
            clipboard.copy, text, sequences.append, overflow_file=self.paths.data_dir / "last-copy.txt")
        if sequences:
            self.copy_to_clipboard(text)  # the plain OSC 52 (and App.clipboard, for pasting in muxtui)
        for sequence in sequences[1:]:  # tmux's passthrough form
            self._write_to_terminal(sequence)
        label = f"{what}: " if what else ""
        self.notify(label + result.message(), severity="warning" if result.too_large and not result.via else
                    "information", markup=False)
        return result

    def _write_to_terminal(self: MuxApp, data: str) -> None:
        write_to_terminal(self, data)

    # ---- new workspaces, named after their first message ---------------------------------------
    async def create_untitled_workspace(self: MuxApp) -> None:
        """ctrl+n: a workspace at once (no name prompt); its first message names it (f2 renames)."""
        names = {s.name for s in self.tracker.states()}
        name = NEW_NAME if NEW_NAME not in names else next(
            f"{NEW_NAME} {n}" for n in range(2, len(names) + 3) if f"{NEW_NAME} {n}" not in names)
        await self.open_new_workspace(name)

    def auto_name(self: MuxApp, event) -> None:
        """Engine listener (keep it cheap): the first message of an untitled workspace names it."""
        if type(event) is not ev.MessageAdded or event.message.get("role") != "user":
            return
        state = self.tracker.get(event.workspace)
        if state is None or not _AUTO_NAME.match(state.name):
            return
        name = name_from_message(event.message.get("content") or "")
        if name:
            self.call_later(self._rename_quietly, event.workspace, name)

    async def _rename_quietly(self: MuxApp, ws_id: str, name: str) -> None:
        """Only when this is the workspace's first message of the user's (a restored or forked
        workspace called "new workspace" keeps its name)."""
        try:
            messages = await self.engine.history(ws_id)
            if sum(m.get("role") == "user" for m in messages) != 1:
                return
            await self.engine.rename_workspace(ws_id, name)
        except (KeyError, OSError) as exc:
            log.warning("naming workspace %s failed: %s", ws_id, exc)

    # ---- keys: into the conversation and out ------------------------------------------------
    def action_focus_messages(self: MuxApp) -> None:
        chat = self.chat
        if not chat.messages():
            self.notify("no messages yet")
            return
        chat.focus()

    def on_message_chat_view_leave(self: MuxApp, message: MessageChatView.Leave) -> None:
        self.composer.focus()

    async def on_message_chat_view_message_action(self: MuxApp, message: MessageChatView.MessageAction) -> None:
        record = self._message_of(message.widget)
        if record is None:
            self.notify("that message is no longer in this workspace", severity="warning")
            return
        handler = {"copy": self._copy_message, "copy_code": self._copy_code, "edit": self._edit_message,
                   "fork": self._fork_at, "retry": self._retry_at}[message.action]
        await handler(record)

    # ---- copy -------------------------------------------------------------------------------
    async def _copy_message(self: MuxApp, record: dict[str, Any]) -> None:
        text = record.get("content") or ""
        if not text:
            self.notify("this message has no text to copy", severity="warning")
            return
        await self.copy_text(text, "message")

    async def _copy_code(self: MuxApp, record: dict[str, Any]) -> None:
        blocks = code_blocks(record.get("content") or "")
        if not blocks:
            self.notify("no code block in this message", severity="warning")
            return
        if len(blocks) == 1:
            await self.copy_text(blocks[0].text, "code block")
            return

        async def picked(index: int | None) -> None:
            if index is not None:
                await self.copy_text(blocks[index].text, f"code block {index + 1}")

        self.push_screen(CodeBlockPicker(blocks), picked)

    async def action_copy_last_reply(self: MuxApp) -> None:
        ws_id = self.current_id
        if ws_id is None:
            return
        view = self.view
        messages = view.messages if view is not None else []
        reply = next((m for m in reversed(messages) if m["role"] == "assistant" and m.get("content")), None)
        if reply is None:
            self.notify("no reply to copy yet", severity="warning")
            return
        await self.copy_text(reply["content"], "last reply")

    # ---- edit and resend, fork, retry from a message ----------------------------------------
    async def _edit_message(self: MuxApp, record: dict[str, Any]) -> None:
        if record.get("role") != "user" or "seq" not in record:
            self.notify("only your own messages can be edited (r retries a reply)", severity="warning")
            return
        self.composer.begin_resend(record["seq"], record.get("content") or "", record.get("attachments"))
        self.composer.focus()

    async def on_composer_resend(self: MuxApp, message: Composer.Resend) -> None:
        ws_id = message.workspace_id
        if ws_id is None or ws_id not in self.tracker:
            return
        if not message.text.strip() and not message.attachments:
            self.notify("the message is empty: esc cancels the edit", severity="warning")
            return
        try:
            refs = await self.message_attachments(message.text, message.attachments)
            await self.engine.edit_and_resend(ws_id, message.seq, message.text, attachments=refs)
        except (StorageError, ValueError, KeyError, OSError, RuntimeError) as exc:
            self.notify(f"not resent: {exc}", severity="error", timeout=10, markup=False)
            return
        if self.composer.workspace_id == ws_id:
            self.composer.end_edit()
        self.notify("resent; the earlier branch is kept in chat.jsonl")

    async def _fork_at(self: MuxApp, record: dict[str, Any]) -> None:
        await self.fork(record.get("seq"))

    async def fork(self: MuxApp, upto_seq: int | None) -> None:
        ws_id = self.current_id
        if ws_id is None:
            return
        try:
            info = await self.engine.fork_workspace(ws_id, upto_seq)
        except (StorageError, ValueError, KeyError, OSError) as exc:
            self.notify(f"cannot fork: {exc}", severity="error", markup=False)
            return
        self.tracker.add(info)
        await self.select_workspace(info.id)
        self.composer.focus()
        self.notify(f"forked into '{one_line(info.name, 60)}' (f2 renames)", markup=False)

    async def action_fork_workspace(self: MuxApp) -> None:
        await self.fork(None)

    async def _retry_at(self: MuxApp, record: dict[str, Any]) -> None:
        ws_id = self.current_id
        if ws_id is None:
            return
        view = self.view
        messages = view.messages if view is not None else []
        if record.get("live") or (messages and record is messages[-1] and record["role"] == "assistant"):
            await self.run_action("retry")  # the last reply: the app's own retry (and its question)
            return
        index = next((i for i, m in enumerate(messages) if m is record), None)
        if index is None:
            return
        user_index = index if record["role"] == "user" else max(
            (i for i in range(index) if messages[i]["role"] == "user"), default=None)
        if user_index is None:
            self.notify("no message of yours before this reply", severity="warning")
            return
        user = messages[user_index]
        later = len(messages) - user_index - 1

        async def answer(yes: bool | None) -> None:
            if not yes:
                return
            try:
                await self.engine.edit_and_resend(ws_id, user["seq"], user.get("content") or "")
            except (StorageError, ValueError, KeyError, OSError, RuntimeError) as exc:
                self.notify(f"cannot retry: {exc}", severity="error", markup=False)

        self.push_screen(ConfirmScreen(
            f"Regenerate from here? {later} later message{'s are' if later != 1 else ' is'} cut.",
            "They stay in chat.jsonl (fork first to keep them as a workspace).", title="retry from here"), answer)

    # ---- continue, send now -----------------------------------------------------------------
    async def action_continue_reply(self: MuxApp) -> None:
        ws_id = self.current_id
        if ws_id is None:
            return
        try:
            await self.engine.continue_reply(ws_id)
        except ValueError as exc:
            self.notify(str(exc), severity="warning", markup=False)
        except (StorageError, KeyError, OSError, RuntimeError) as exc:
            self.notify(f"cannot continue: {exc}", severity="error", timeout=10, markup=False)

    async def send_queued_now(self: MuxApp, item_ids: list[str] | None) -> None:
        ws_id = self.current_id
        if ws_id is None:
            return
        view = self.view
        if view is None or not view.queue:
            self.notify("nothing is queued")
            return
        try:
            await self.engine.send_now(ws_id, item_ids)
        except KeyError:
            self.notify("that queued message was already sent", severity="warning")
        except (StorageError, ValueError, OSError, RuntimeError) as exc:
            self.notify(f"not sent: {exc}", severity="error", timeout=10, markup=False)
        else:
            self.composer.focus()

    async def action_send_now(self: MuxApp) -> None:
        await self.send_queued_now(None)

    async def on_message_chat_view_send_queued_now(self: MuxApp, message: MessageChatView.SendQueuedNow) -> None:
        await self.send_queued_now([message.item_id])

    # ---- prompt history ---------------------------------------------------------------------
    async def prompt_history(self: MuxApp, fresh: bool) -> list[str]:
        """This workspace's prompts, newest first, then every other workspace's (deduplicated)."""
        ws_id = self.current_id
        own: list[str] = []
        view = self.view
        if view is not None:
            own = [m.get("content") or "" for m in reversed(view.messages) if m["role"] == "user"]
        if fresh or self._history_cache is None:
            others = [i for i in self.tracker.ids() if i != ws_id]
            self._history_cache = await self._other_prompts(others)
        seen: set[str] = set()
        out = []
        for text in [*own, *self._history_cache]:
            if text.strip() and text not in seen:
                seen.add(text)
                out.append(text)
        return out

    async def _other_prompts(self: MuxApp, ids: list[str]) -> list[str]:
        found: list[tuple[float, str]] = []
        for ws_id in ids:
            try:
                messages = await self.engine.history(ws_id)
            except (OSError, KeyError):
                continue
            found.extend((m.get("created_at") or 0.0, m.get("content") or "") for m in messages if m["role"] == "user")
        found.sort(key=lambda pair: pair[0], reverse=True)
        return [text for _, text in found[:HISTORY_OTHER_LIMIT]]

    async def on_composer_history_step(self: MuxApp, message: Composer.HistoryStep) -> None:
        composer = self.composer
        entries = await self.prompt_history(fresh=composer.history_index is None)
        if not composer.walk_history(entries, message.direction) and message.direction < 0:
            if not entries:
                self.notify("no earlier messages yet")

    async def action_search_history(self: MuxApp) -> None:
        prompts = await self.prompt_history(fresh=True)
        if not prompts:
            self.notify("no earlier messages yet")
            return

        def chosen(text: str | None) -> None:
            if text is None:
                return
            composer = self.composer
            composer.set_draft(text if not composer.text.strip() else composer.text.rstrip() + "\n\n" + text)
            composer.focus()

        self.push_screen(HistorySearch(prompts), chosen)

    # ---- settings ---------------------------------------------------------------------------
    async def action_workspace_settings(self: MuxApp) -> None:
        ws_id = self.current_id
        if ws_id is None:
            return
        state = self.tracker.get(ws_id)
        own = await self.engine.get_settings(ws_id, effective=False)
        provider = self.config.providers.get(state.model.partition(":")[0]) if state else None

        async def save(settings: dict | None) -> None:
            if settings is None or ws_id not in self.tracker:
                return
            try:
                await self.engine.set_settings(ws_id, settings)
            except (ValueError, KeyError, OSError) as exc:
                self.notify(f"settings not saved: {exc}", severity="error", markup=False)
                return
            self._update_title()
            self.notify("settings saved: " + (settings_mod.summary(settings) or "all defaults"), markup=False)

        self.push_screen(SettingsScreen(own, self.config.defaults, self.config.presets,
                                        provider.type if provider else ""), save)

    def settings_summary(self: MuxApp, ws_id: str | None) -> str:
        if ws_id is None:
            return ""
        view = self.view
        return settings_mod.summary(view.settings) if view is not None and view.id == ws_id else ""

    # ---- help -------------------------------------------------------------------------------
    def _keys_of(self: MuxApp, binding: Binding) -> str:
        keymap = app_keymap(self)
        keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
        return " / ".join(k.strip() for k in keys.split(",") if k.strip())

    def _rows(self: MuxApp, bindings: Iterable[Binding], skip: Callable[[Binding], bool] = lambda b: False) \
            -> list[HelpRow]:
        return [HelpRow(self._keys_of(b), b.description or b.action, b.id or "") for b in bindings
                if isinstance(b, Binding) and not skip(b)]

    def help_sections(self: MuxApp) -> list[tuple[str, list[HelpRow]]]:
        if len(self.screen_stack) > 1:
            screen = self.screen
            return [("this dialog", self._rows(type(screen).BINDINGS))]
        palette = Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "command palette (every action)",
                          id="command-palette")
        app_rows = self._rows([*type(self).BINDINGS, palette], skip=lambda b: b.action.startswith("jump("))
        jumps = [self._keys_of(b) for b in type(self).BINDINGS if b.action.startswith("jump(")]
        app_rows.insert(3, HelpRow(f"{jumps[0]} … {jumps[-1]}", "jump to workspace 1 … 9", "jump-1 … jump-9"))
        return [
            ("everywhere", app_rows),
            ("composer", self._rows(Composer.BINDINGS) + [
                HelpRow("up / down", "on the first / last line: earlier prompts (this workspace, then all)", ""),
                HelpRow("@path / tab", "attach the file it names (tab completes from the current folder)", ""),
            ]),
            (f"messages (after {self._keys_of(APP_BINDINGS[1])})", self._rows(MESSAGE_BINDINGS)),
            ("a queued message (shift+tab focuses it)", self._rows([*QueuedItem.BINDINGS, *QUEUED_BINDINGS])),
        ]

    def action_help(self: MuxApp) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.help_sections(), title="keys · F1"))

    # ---- palette ----------------------------------------------------------------------------
    def conversation_commands(self: MuxApp, cmd) -> Iterable[Any]:
        yield cmd("New workspace with a name", "ask a name first, then create it", "new_named_workspace")
        yield cmd("Help: keys", "every key of this screen, with rebindings", "help", "help", "f1")
        yield cmd("Go to messages", "move into the conversation: up/down, y copy, c code, e edit, f fork, r retry",
                  "focus_messages", "focus-messages", "ctrl+up")
        yield cmd("Copy last reply", "copy the last reply's source text", "copy_last_reply")
        yield cmd("Continue reply", "continue an interrupted, truncated or paused reply", "continue_reply",
                  "continue", "ctrl+g")
        yield cmd("Send queued now", "stop the reply (kept as interrupted) and send the queue", "send_now",
                  "send-now", "ctrl+s")
        yield cmd("Fork workspace", "copy this conversation into a new workspace", "fork_workspace")
        yield cmd("Workspace settings", "system prompt, temperature, max tokens, reasoning", "workspace_settings",
                  "settings", "f5")
        yield cmd("Search prompt history", "earlier messages of every workspace", "search_history",
                  "history-search", "alt+r")
