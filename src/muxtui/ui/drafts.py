"""The composer drafts and the rest of ui.json (sidebar shown, last workspace): remembered per
workspace as the user types, saved half a second after the last change and on exit.

``DraftStore`` is mixed into ``MuxApp``; the state itself is ``persist.UIState``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from muxtui.ui import persist

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp


class DraftStore:
    """See the module docstring."""

    def _remember_draft(self: MuxApp) -> bool:
        if not self.is_mounted or not self.query("#composer"):
            return False
        composer = self.composer
        ws_id = composer.workspace_id
        if ws_id is None or ws_id not in self.tracker:
            return False
        draft = composer.draft
        attachments = composer.draft_attachments
        if self.ui_state.drafts.get(ws_id, "") == draft and self.ui_state.attachments.get(ws_id, {}) == attachments:
            return False
        self.ui_state.drafts[ws_id] = draft
        if attachments:
            self.ui_state.attachments[ws_id] = attachments
        else:
            self.ui_state.attachments.pop(ws_id, None)
        return True

    def _save_ui_soon(self: MuxApp) -> None:
        if self._shutting_down:
            return
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(0.5, self._save_ui_now, name="save-ui")

    async def _save_ui_now(self: MuxApp) -> None:
        snapshot = self.ui_state.to_dict()
        async with self._save_lock:
            await asyncio.to_thread(persist.save, self.ui_file, snapshot)
