"""The context meter and compaction in the app (issue 16, section 2).

``ContextActions`` is mixed into ``MuxApp``. The meter ("ctx 12k/128k (9%)") sits in the header's
sub-title of the workspace on screen, in the warning colour past 80% and the error colour from
100%. Its window is asked of the engine (``context``) once per workspace and model; the tokens
are counted here from the messages shown (``context_used``: the last reply's usage plus an
estimate for what came after), so the meter follows every event without a round trip. It shows
once the conversation fills 1% of a known window: an empty chat or a model of unknown window
gets no meter (nothing useful to say).

Compaction: ``/compact`` typed alone in the composer, the palette's "Compact conversation", and
f8 (the hint of a ``context_exceeded`` error) which compacts and then retries the failed turn.
A summary that fails writes nothing: a notification says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.content import Content

from muxtui.client import context_used, meter_text

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp

COMPACT_COMMAND = "/compact"
SHOW_FROM_PERCENT = 1


class ContextActions:
    """See the module docstring."""

    def context_meter(self: MuxApp) -> tuple[str, str] | None:
        """The meter of the workspace on screen and its level, or None (not shown)."""
        view = self.view
        if view is None:
            return None
        windows: dict[tuple[str, str], Any] = self.__dict__.setdefault("_context_windows", {})
        key = (view.id, view.info.model)
        if key not in windows:
            windows[key] = None  # asked once; the answer redraws the title
            self.run_worker(self._ask_window(*key), group="context-window")
            return None
        found = windows[key]
        if not found or not found.get("window"):
            return None
        cache_key = (view.id, len(view.messages), id(view.messages[-1]) if view.messages else None)
        if self.__dict__.get("_context_used_key") != cache_key:  # once per history change, not per delta
            self.__dict__["_context_used_key"] = cache_key
            self.__dict__["_context_used"] = context_used(view.messages)[0]
        used = self.__dict__["_context_used"]
        window = found["window"]
        if used * 100 < window * SHOW_FROM_PERCENT:
            return None
        return meter_text(used, window)

    async def _ask_window(self: MuxApp, ws_id: str, model: str) -> None:
        try:
            found = await self.engine.context(ws_id)
        except Exception:  # noqa: BLE001 - no meter is better than a crash (the engine said why elsewhere)
            return
        self.__dict__.setdefault("_context_windows", {})[(ws_id, model)] = found
        if ws_id == self.current_id:
            self._update_title()

    def format_title(self: MuxApp, title: str, sub_title: str) -> Content:
        """The header's title; the meter in the sub-title takes its level's colour."""
        meter = self.__dict__.get("_meter_shown")
        if not meter or meter[1] == "ok" or meter[0] not in sub_title:
            return super().format_title(title, sub_title)  # type: ignore[misc]
        before, _, after = sub_title.partition(meter[0])
        colour = "$warning" if meter[1] == "warning" else "$error"
        return Content.assemble(Content(title), (" — ", "dim"), Content(before).stylize("dim"),
                                (meter[0], f"bold {colour}"), Content(after).stylize("dim"))

    # ---- compaction --------------------------------------------------------------------------
    async def action_compact(self: MuxApp) -> None:
        if self.current_id is not None:
            self.run_worker(self.compact_conversation(self.current_id), group="compact")

    async def action_compact_retry(self: MuxApp) -> None:
        state = self.tracker.get(self.current_id)
        if state is None or state.error_type != "context_exceeded":
            self.notify("nothing to compact and retry: the last reply did not overflow the context",
                        severity="warning")
            return
        self.run_worker(self.compact_conversation(state.id, retry=True), group="compact")

    async def compact_conversation(self: MuxApp, ws_id: str, retry: bool = False) -> bool:
        self.notify("compacting the conversation…", timeout=3)
        try:
            summary = await self.engine.compact(ws_id, retry=retry)
        except Exception as exc:  # noqa: BLE001 - ValueError says why; anything else too, never a traceback
            self.notify(str(exc) if isinstance(exc, ValueError) else f"could not compact: {exc}",
                        severity="error", timeout=10, markup=False)
            return False
        await self.drain()
        if ws_id == self.current_id:
            self._update_title()  # the meter counts the summary now, not what it replaced
        span = summary.get("summarizes") or ["?", "?"]
        self.notify(f"compacted messages {span[0]}–{span[-1]} into a summary" + ("; retrying" if retry else ""),
                    timeout=5)
        return True
