"""Workspace actions of the app: switching, creating, renaming, deleting and restoring, the
model picker, the error log, search and find, export, the sidebar and the chat's scrolling.

``WorkspaceActions`` is mixed into ``MuxApp`` and uses only its client API (``engine``), the
badge tracker, the panes and ``view``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from muxtui.client import TRASH_KEEP_DAYS, StorageError, atomic, countdown, usage_total
from muxtui.humanize import ago
from muxtui.ui.safe import one_line
from muxtui.ui.screens import ConfirmScreen, ErrorsScreen, ModelPicker, NameScreen, TrashPicker
from muxtui.ui.search import SearchScreen
from muxtui.ui.sidebar import Sidebar
from muxtui.ui.state import short_model

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp

FIRST_WORKSPACE = "scratch"


class WorkspaceActions:
    """See the module docstring."""

    # ---- workspaces -------------------------------------------------------------------------
    async def select_workspace(self: MuxApp, ws_id: str) -> None:
        if ws_id not in self.tracker or ws_id == self.current_id:
            return
        self._remember_draft()
        self.current_id = ws_id
        self.bridge.buffer.clear()
        self.tracker.set_current(ws_id)
        self.sidebar.set_current(ws_id)
        self.composer.switch_to(ws_id, self.ui_state.drafts.get(ws_id, ""), self.ui_state.attachments.get(ws_id))
        self.ui_state.last_workspace = ws_id
        self._save_ui_soon()
        self._update_title()
        await self._show(ws_id)

    async def _show(self: MuxApp, ws_id: str) -> None:
        await self.bridge.show(ws_id)

    def _update_title(self: MuxApp) -> None:
        state = self.tracker.get(self.current_id)
        if state is None:
            self.title, self.sub_title = "muxtui", ""
            return
        parts = [short_model(state.model)]
        if state.streaming:
            parts.append("streaming")
        if state.queued:
            parts.append(f"{state.queued} queued")
        if state.error_type:
            parts.append(f"error: {state.error_type}" + (f", retry in {countdown(state.retry_in)}" if state.retry_in else ""))
        elif state.interrupted:
            parts.append(f"interrupted ({self.key_for('continue', 'ctrl+g')} continues, "
                         f"{self.key_for('retry', 'ctrl+r')} regenerates)")
        if len(parts) == 1:
            parts.append("idle")
        self._meter_shown = meter = self.context_meter()
        if meter is not None:
            parts.insert(1, meter[0])
        total = self._usage_total(self.current_id)
        if total["replies"] > 1:  # with one reply, its own usage line is the total
            parts.append(f"{total['input_tokens'] + total['output_tokens']:,} tokens total")
        if settings := self.settings_summary(self.current_id):
            parts.append(settings)
        self.title = one_line(state.name, 60)
        self.sub_title = one_line(" · ".join(parts))

    def _usage_total(self: MuxApp, ws_id: str | None) -> dict[str, int]:
        view = self.view
        messages = view.messages if view is not None and view.id == ws_id else []
        key = (ws_id, len(messages), id(messages[-1]) if messages else None)
        if getattr(self, "_usage_key", None) != key:  # summed once per history change, not per delta
            self._usage_key, self._usage_cached = key, usage_total(messages)
        return self._usage_cached

    def _step(self: MuxApp, delta: int) -> str | None:
        ids = self.tracker.ids()
        if not ids:
            return None
        if self.current_id not in ids:
            return ids[0]
        return ids[(ids.index(self.current_id) + delta) % len(ids)]

    async def action_previous_workspace(self: MuxApp) -> None:
        target = self._step(-1)
        if target:
            await self.select_workspace(target)

    async def action_next_workspace(self: MuxApp) -> None:
        target = self._step(1)
        if target:
            await self.select_workspace(target)

    async def action_jump(self: MuxApp, n: int) -> None:
        ids = self.tracker.ids()
        if 1 <= n <= len(ids):
            await self.select_workspace(ids[n - 1])

    async def on_sidebar_selected(self: MuxApp, message: Sidebar.Selected) -> None:
        await self.select_workspace(message.workspace_id)
        self.composer.focus()

    async def action_new_workspace(self: MuxApp) -> None:
        await self.create_untitled_workspace()  # named after its first message (issue 15, item 22)

    def action_new_named_workspace(self: MuxApp) -> None:
        async def create(name: str | None) -> None:
            if name:
                await self.open_new_workspace(name)

        self.push_screen(NameScreen("new workspace"), create)

    async def open_new_workspace(self: MuxApp, name: str) -> None:
        """Create a workspace, show it and put the cursor in its composer."""
        try:
            info = await self.engine.create_workspace(name)
        except OSError as exc:
            self.notify(f"cannot create the workspace: {exc}", severity="error", markup=False)
            return
        self.tracker.add(info)
        await self.select_workspace(info.id)
        self.composer.focus()

    def action_rename(self: MuxApp) -> None:
        ws_id = self.current_id
        state = self.tracker.get(ws_id)
        if state is None:
            return

        async def rename(name: str | None) -> None:
            if not name or ws_id not in self.tracker:
                return
            try:
                await self.engine.rename_workspace(ws_id, name)
            except (KeyError, OSError) as exc:
                self.notify(f"cannot rename: {exc}", severity="error", markup=False)

        self.push_screen(NameScreen("rename workspace", value=state.name), rename)

    def action_delete_workspace(self: MuxApp) -> None:
        ws_id = self.current_id
        state = self.tracker.get(ws_id)
        if ws_id is None or state is None:
            return
        detail = (f"It is moved to the trash for {TRASH_KEEP_DAYS} days: "
                  f"{self.key_for('restore-workspace', 'f6')} or `muxtui restore` brings it back.")
        if state.streaming:
            detail = "Its reply is streaming and will be stopped. " + detail

        async def delete(yes: bool | None) -> None:
            if not yes or ws_id not in self.tracker:
                return
            ids = self.tracker.ids()
            index = ids.index(ws_id)
            rest = ids[:index] + ids[index + 1:]
            self._after_delete[ws_id] = rest[min(index, len(rest) - 1)] if rest else None
            try:
                await self.engine.delete_workspace(ws_id)
            except (KeyError, OSError) as exc:
                self._after_delete.pop(ws_id, None)
                self.notify(f"cannot delete: {exc}", severity="error", markup=False)

        self.push_screen(ConfirmScreen(f"Delete workspace '{one_line(state.name, 60)}'?", detail,
                                       title="delete workspace", default=False), delete)

    async def action_restore_workspace(self: MuxApp) -> None:
        entries = await self.engine.list_trash()
        if not entries:
            self.notify(f"the trash is empty (deleted workspaces are kept {TRASH_KEEP_DAYS} days)")
            return
        now = self.clock()
        rows = [(t["key"], t["name"], f"{short_model(t['model'])} · deleted {ago(now - t['deleted_at'])}")
                for t in entries]

        async def restore(key: str | None) -> None:
            if not key:
                return
            try:
                info = await self.engine.restore_workspace(key)
            except (StorageError, OSError, KeyError) as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            self.tracker.add(info)
            await self.select_workspace(info.id)
            self.composer.focus()
            self.notify(f"restored '{one_line(info.name, 60)}'", markup=False)

        self.push_screen(TrashPicker(rows, TRASH_KEEP_DAYS), restore)

    async def action_pick_model(self: MuxApp) -> None:
        ws_id = self.current_id
        state = self.tracker.get(ws_id)
        if state is None:
            return

        def listing(models: list[str]) -> list[str]:
            return models if state.model in models else [*models, state.model]

        async def fetch(refresh: bool) -> list[str]:
            return listing(await self.engine.models(fetch=True, refresh=refresh))

        async def pick(model: str | None) -> None:
            if not model or ws_id not in self.tracker or model == state.model:
                return
            try:
                await self.engine.set_model(ws_id, model)
            except ValueError as exc:
                self.notify(str(exc), severity="error", markup=False)
            except (KeyError, OSError) as exc:
                self.notify(f"cannot change the model: {exc}", severity="error", markup=False)

        self.push_screen(ModelPicker(listing(await self.engine.models()), state.model, fetch=fetch), pick)

    async def action_errors(self: MuxApp) -> None:
        groups = await self.engine.error_groups()
        names = {s.id: s.name for s in self.tracker.states()}
        self.push_screen(ErrorsScreen(groups, names, clock=self.clock))

    def action_search(self: MuxApp) -> None:
        async def opened(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                await self.open_message(*choice)

        self.push_screen(SearchScreen(self.engine), opened)

    async def open_message(self: MuxApp, ws_id: str, message_id: str) -> None:
        """Show a workspace scrolled to one of its messages, highlighted (a search hit)."""
        if ws_id not in self.tracker:
            self.notify("that workspace no longer exists", severity="warning")
            return
        await self.select_workspace(ws_id)
        if not await self.chat.reveal(message_id):
            self.notify("that message is no longer in the conversation", severity="warning")

    def action_find_in_workspace(self: MuxApp) -> None:
        """Words to find in the current workspace; its newest hit is shown, n / N step through."""
        ws_id = self.current_id
        if ws_id is None:
            return

        async def find(text: str | None) -> None:
            if not text or ws_id != self.current_id:
                return
            hits = await self.engine.search(text, 1000, ws_id)
            ids = [h.message_id for h in sorted(hits, key=lambda h: h.seq)]
            if not ids:
                self._find = None
                self.notify(f"no match for {text!r} in this workspace", severity="warning", markup=False)
                return
            self._find = (ws_id, ids, len(ids))
            self.chat.focus()  # n and N are the chat's keys
            await self.action_find_next(1)

        self.push_screen(NameScreen("find in this workspace", placeholder="words (n older · N newer hit)"), find)

    async def action_find_next(self: MuxApp, step: int) -> None:
        if self._find is None or self._find[0] != self.current_id:
            self.notify(f"{self.key_for('find-in-workspace', 'f7')} (or / in the chat) finds in this workspace")
            return
        ws_id, ids, pos = self._find
        pos = (pos - step) % len(ids)  # n goes up to older messages, like a backward search
        self._find = (ws_id, ids, pos)
        if await self.chat.reveal(ids[pos]):
            self.chat.select_message(ids[pos])  # the message cursor too: y copies it, e edits it
            self.notify(f"hit {pos + 1} of {len(ids)} · n older · N newer", timeout=3)
        else:
            self.notify("that message is no longer in the conversation", severity="warning")

    async def action_export_workspace(self: MuxApp, fmt: str = "md") -> None:
        """Write the current workspace to a file in the current folder (else the data folder)."""
        state = self.tracker.get(self.current_id)
        if self.current_id is None or state is None:
            return
        text = await self.engine.export_workspace(self.current_id, fmt)
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in state.name).strip("-")[:60] or "workspace"
        name = f"{stem}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(self.clock()))}.{fmt}"

        errors = []
        for folder in (Path.cwd(), self.paths.data_dir / "exports"):
            try:
                atomic.make_private_dir(folder)
                await asyncio.to_thread(atomic.write_text, folder / name, text)
            except OSError as exc:
                errors.append(f"{folder}: {exc.strerror or exc}")
                continue
            self.notify(f"exported to {folder / name}", title="export", markup=False)
            return
        self.notify("could not export: " + "; ".join(errors), severity="error", markup=False)

    def action_toggle_sidebar(self: MuxApp) -> None:
        self.sidebar.display = not self.sidebar.display
        self.ui_state.sidebar = bool(self.sidebar.display)
        self._save_ui_soon()

    async def action_load_earlier(self: MuxApp) -> None:
        if not await self.chat.load_earlier():
            self.notify("this is the start of the conversation")

    def action_scroll_chat(self: MuxApp, direction: int) -> None:
        chat = self.chat
        if direction < 0:
            chat.scroll_page_up(animate=False)
        elif chat.scroll_y + chat.scrollable_content_region.height >= chat.max_scroll_y:
            chat.anchor()  # the last page: follow the reply again
        else:
            chat.scroll_page_down(animate=False)

    def action_dismiss_error(self: MuxApp) -> None:
        if self.current_id:
            self.tracker.dismiss_error(self.current_id)

    async def on_chat_view_load_earlier(self: MuxApp) -> None:
        await self.chat.load_earlier()
