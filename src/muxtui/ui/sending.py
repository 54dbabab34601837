"""Sending, the queue, stopping and retrying: what the composer and the queued items ask of the
engine, and what comes back when it refuses (the text returns to the composer, never lost).

``SendingActions`` is mixed into ``MuxApp``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from muxtui.client import StorageError, WorkspaceBusy
from muxtui.ui.attaching import UPLOAD_ERRORS
from muxtui.ui.chat import QueuedItem
from muxtui.ui.composer import Composer
from muxtui.ui.context import COMPACT_COMMAND
from muxtui.ui.screens import ConfirmScreen

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp


class SendingActions:
    """See the module docstring."""

    # ---- sending, stopping, retrying --------------------------------------------------------
    async def on_composer_submitted(self: MuxApp, message: Composer.Submitted) -> None:
        ws_id = message.workspace_id
        if ws_id is None or ws_id not in self.tracker:
            return
        text, draft = message.text, message.draft
        composer = self.composer
        here = composer.workspace_id == ws_id
        if message.editing is not None:
            try:
                refs = await self.message_attachments(text, message.attachments)
            except UPLOAD_ERRORS as exc:
                self.notify(f"not saved: {exc}", severity="error", timeout=10, markup=False)
                return
            try:
                if text.strip() or refs:
                    await self.engine.edit_queued(ws_id, message.editing, text, attachments=refs)
                else:
                    await self.engine.remove_queued(ws_id, message.editing)
            except KeyError:
                # Already sent while being edited: keep the words, to send as a new message.
                if here:
                    composer.end_edit()
                    composer.set_draft(draft + ("\n\n" + composer.text if composer.text.strip() else ""))
                self.notify("that queued message was already sent; your edit is in the composer",
                            severity="warning")
                return
            if here:
                composer.end_edit()
            return
        if text.strip() == COMPACT_COMMAND and not message.attachments:  # a command, not a message to the model
            if here:
                composer.accepted(draft)
            self.run_worker(self.compact_conversation(ws_id), group="compact")
            return
        if ws_id == self.current_id:
            self.chat.anchor()  # scrolled up or not: the new message and its reply are followed
        try:
            refs = await self.message_attachments(text, message.attachments)
            if refs:
                await self.engine.send(ws_id, text, attachments=refs)
            else:
                await self.engine.send(ws_id, text)
        except (StorageError, *UPLOAD_ERRORS) as exc:  # StorageError: busy, or a reply not saved
            if here:
                composer.refused(draft)  # back in the composer; elsewhere it is in that draft already
            reason = str(exc) if isinstance(exc, WorkspaceBusy) else f"not sent: {exc}"
            self.notify(reason, severity="error", timeout=10, markup=False)
            self._remember_draft()
            self._save_ui_soon()
            return
        # Accepted: only now does the text leave the draft.
        if here:
            composer.accepted(draft)
        else:
            saved = self.ui_state.drafts.get(ws_id, "")
            if saved.startswith(draft):
                self.ui_state.drafts[ws_id] = saved[len(draft):].lstrip("\n")
        self._remember_draft()
        self._save_ui_soon()

    async def on_composer_recall_queued(self: MuxApp) -> None:
        if self.current_id is None:
            return
        item = await self.engine.pop_last_queued(self.current_id)
        if item is None:  # nothing queued: up walks the prompt history instead
            await self.on_composer_history_step(Composer.HistoryStep(-1))
            return
        typed = self.composer.text  # typed meanwhile: do not lose either text
        self.composer.set_draft(item.get("text", ""), item.get("attachments"), typed)

    def on_queued_item_edit(self: MuxApp, message: QueuedItem.Edit) -> None:
        self.composer.begin_edit(message.item_id, message.text, message.number, message.attachments)
        self.composer.focus()

    async def on_queued_item_remove(self: MuxApp, message: QueuedItem.Remove) -> None:
        if self.current_id is not None:
            await self.engine.remove_queued(self.current_id, message.item_id)
            if not list(self.chat.queued_items()):
                self.composer.focus()

    async def action_interrupt(self: MuxApp) -> None:
        composer = self.composer
        if composer.editing is not None:
            composer.end_edit()
            return
        ws_id = self.current_id
        if ws_id is None:
            return
        handback = await self.engine.interrupt(ws_id, full=True)
        if isinstance(handback, str):
            handback = {"text": handback}
        if handback:
            composer.set_draft(handback.get("text") or "", handback.get("attachments"), composer.text)
            composer.focus()
            self.notify("the queued messages are back in the composer")

    async def action_retry(self: MuxApp) -> None:
        ws_id = self.current_id
        if ws_id is None:
            return
        if self._last_reply_complete(ws_id):
            async def answer(yes: bool | None) -> None:
                if yes and ws_id == self.current_id:
                    await self._retry(ws_id)

            self.push_screen(ConfirmScreen(
                "Regenerate the last reply? It is complete.",
                "The current reply is replaced on screen; it stays in the workspace's history file on disk.",
                title="regenerate"), answer)
            return
        await self._retry(ws_id)

    def _last_reply_complete(self: MuxApp, ws_id: str) -> bool:
        """A finished, complete reply ends the conversation (regenerating it discards good work)."""
        view = self.view
        if view is None or view.id != ws_id or view.streaming:
            return False
        messages = view.messages
        last = messages[-1] if messages else None
        return bool(last and last.get("role") == "assistant" and last.get("status") == "complete")

    async def _retry(self: MuxApp, ws_id: str) -> None:
        try:
            await self.engine.retry(ws_id)
        except ValueError as exc:
            self.notify(str(exc), severity="warning", markup=False)
        except WorkspaceBusy as exc:
            self.notify(str(exc), severity="error", timeout=10, markup=False)
        except (KeyError, OSError) as exc:
            self.notify(f"cannot retry: {exc}", severity="error", markup=False)
