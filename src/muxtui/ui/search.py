"""The search screen: type-ahead full-text search over every workspace's messages.

Queries run in a thread against ``engine.search.SearchIndex`` (each keystroke replaces the
previous query's worker), so typing never waits on the index. A hit shows its workspace, who
wrote it (role or model), its date and the matching snippet with the matched words highlighted;
enter dismisses the screen with ``(workspace id, message id)`` for the app to open.
Filters are typed in the query: ``ws:NAME``, ``role:user|assistant|system``, ``model:NAME``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from muxtui.client import Engine, Hit, split_snippet
from muxtui.ui.ordered_keys import OrderedInput
from muxtui.ui.safe import one_line
from muxtui.ui.screens import OnceModal
from muxtui.ui.state import short_model

HELP = "enter opens · ↓ list · esc closes · filters: ws:NAME role:user model:NAME"


def hit_label(hit: Hit) -> Content:
    """Two lines: where and when, then the snippet with the matched words highlighted."""
    who = short_model(hit.model) if hit.role == "assistant" and hit.model else hit.role
    when = datetime.fromtimestamp(hit.created_at).strftime("%Y-%m-%d %H:%M") if hit.created_at else "unknown time"
    head = Content.assemble((one_line(hit.workspace_name, 40), "bold $primary"), (" · ", "dim"),
                            (one_line(who, 30), "$secondary"), (f" · {when}", "dim"))
    text, spans = split_snippet(hit.snippet)
    # One line: newlines and control characters become spaces, which keeps every offset.
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    snippet = Content(flat)
    for start, end in spans:
        snippet = snippet.stylize("bold reverse $accent", start, end)
    return head + Content("\n  ") + snippet


class SearchScreen(OnceModal[tuple[str, str] | None]):
    """Search every workspace; dismisses with (workspace id, message id) or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="search-close"),
        Binding("down", "focus_list", show=False),
    ]

    def __init__(self, engine: Engine, query: str = "") -> None:
        super().__init__(classes="modal")
        self.engine = engine
        self.hits: list[Hit] = []
        self._query = query
        self.searches = 0  # finished queries (tests wait on it)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog search-dialog") as dialog:
            dialog.border_title = "search all workspaces"
            yield OrderedInput(value=self._query, placeholder="words to find", id="search-input")
            yield Static(id="search-status")
            yield OptionList(id="search-results")
            yield Static(Content.styled(HELP, "dim"), classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self.run_worker(self._catch_up(), group="search-refresh")
        if self._query:
            self.run_query(self._query)

    async def _catch_up(self) -> None:
        # Writes of other processes (`muxtui send`): one stat per workspace, in the background.
        await self.engine.refresh_search()
        if not self.searches:
            await self._status()

    async def _status(self, text: str = "") -> None:
        if not await self.engine.search_ready():
            text = (text + " · " if text else "") + "indexing… results so far"
        self.query_one("#search-status", Static).update(Content.styled(text, "dim"))

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self.run_query(event.value)

    @work(exclusive=True, group="search-query")
    async def run_query(self, text: str) -> None:
        hits = await self.engine.search(text, 50) if text.strip() else []
        self.hits = hits
        results = self.query_one(OptionList)
        results.set_options([Option(hit_label(h)) for h in hits])
        if hits:
            results.highlighted = 0
        await self._status(f"{len(hits)}{'+' if len(hits) >= 50 else ''} match{'es' if len(hits) != 1 else ''}"
                     if text.strip() else "")
        self.searches += 1

    @on(Input.Submitted)
    def _submitted(self) -> None:
        results = self.query_one(OptionList)
        if self.hits and results.highlighted is not None:
            self._open(self.hits[results.highlighted])

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self._open(self.hits[event.option_index])

    def _open(self, hit: Hit) -> None:
        self.dismiss((hit.workspace_id, hit.message_id))

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def result_dicts(self) -> list[dict[str, Any]]:
        return [h.to_dict() for h in self.hits]
