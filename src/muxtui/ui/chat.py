"""The chat pane: messages of the current workspace, the reply being streamed, the queue.

``ChatView`` is the one place that mounts chat widgets. Every change goes through a method that
holds ``ChatView.lock`` (an asyncio.Lock), so a workspace switch, an engine event and "load
earlier" never interleave their mounts. Only the last ``WINDOW`` messages are mounted; earlier
ones are mounted on demand, and a long session is pruned back so the DOM stays bounded.

All model and user text goes through ``safe.visible`` and is rendered as Markdown (replies,
via StreamingMarkdown) or as literal ``Content`` (everything else): never as console markup.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Iterable

from textual import events
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.selection import SELECT_ALL, Selection
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from muxtui.client import CONTINUABLE_ERRORS, HINTS, ErrorType
from muxtui.ui import large_text
from muxtui.ui.safe import one_line, visible
from muxtui.ui.state import short_model
from muxtui.ui.markdown import StreamingMarkdown

WINDOW = 40  # messages mounted when a workspace is shown, and per "load earlier"
MAX_MOUNTED = 80  # past this, the oldest are unmounted back down to WINDOW


DEFAULT_KEYS = {"retry": "ctrl+r", "pick-model": "ctrl+o", "continue": "ctrl+g", "compact-retry": "f8"}


class _Keys(dict):
    def __init__(self, key_for) -> None:
        super().__init__()
        self.key_for = key_for

    def __missing__(self, binding_id: str) -> str:
        return self.key_for(binding_id, DEFAULT_KEYS.get(binding_id, binding_id))


def error_hint(error_type: str | None, key_for=lambda binding_id, default: default) -> str:
    """What the user can do, with the keys their keymap has for it (``key_for(id, default)``)."""
    try:
        hint = HINTS[ErrorType(error_type or "unknown")]
    except ValueError:
        hint = HINTS[ErrorType.UNKNOWN]
    return hint.format_map(_Keys(key_for))


def usage_text(usage: dict[str, Any] | None) -> str:
    if not usage:
        return ""
    parts = []
    if usage.get("input_tokens") is not None:
        cached = usage.get("cached_tokens")
        parts.append(f"{usage['input_tokens']:,} in" + (f" ({cached:,} cached)" if isinstance(cached, int) else ""))
    if usage.get("output_tokens") is not None:
        thought = usage.get("reasoning_tokens")
        parts.append(f"{usage['output_tokens']:,} out" + (f" ({thought:,} reasoning)" if isinstance(thought, int) else ""))
    return " · ".join(parts) + " tokens" if parts else ""


TOOL_ARGS_SHOWN = 400  # characters of a tool call's arguments shown in the chat
RESULT_LINES_SHOWN = 5


def parts_content(message: dict[str, Any]) -> Content | None:
    """The typed parts of a saved reply as one literal block: the refusal, one line (plus its
    result) per tool call, the cited sources. None when the reply has none."""
    lines: list[Content] = []
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        lines.append(Content.assemble(("⊘ refused: ", "bold $warning"), (visible(refusal), "$warning")))
    for call in message.get("tool_calls") or ():
        if not isinstance(call, dict):
            continue
        name = one_line(str(call.get("name") or "?"), 60)
        args = visible(str(call.get("arguments") or ""))
        if len(args) > TOOL_ARGS_SHOWN:
            args = args[: TOOL_ARGS_SHOWN - 1] + "…"
        who = " (run by the provider)" if call.get("server") else ""
        lines.append(Content.assemble(("⚙ tool call ", "bold $accent"), (name, "bold"), (who, "dim"),
                                      (" " + args if args else " (no arguments)", "")))
        result = call.get("result")
        if isinstance(result, str) and result:
            rows = result.splitlines()
            shown = [one_line(r, 100) for r in rows[:RESULT_LINES_SHOWN]]
            if len(rows) > RESULT_LINES_SHOWN:
                shown.append(f"… {len(rows) - RESULT_LINES_SHOWN} more")
            lines.extend(Content.styled("  → " + r, "dim") for r in shown)
    citations = [c for c in message.get("citations") or () if isinstance(c, dict) and c.get("url")]
    if citations:
        lines.append(Content.styled("sources:", "bold dim"))
        for i, c in enumerate(citations[:10], 1):
            title = one_line(str(c.get("title") or ""), 70)
            lines.append(Content.styled(f"  {i}. " + (f"{title} <{one_line(c['url'], 100)}>" if title else one_line(c["url"], 100)), "dim"))
    if message.get("tool_calls") and not message.get("content") and message.get("status") == "complete":
        lines.append(Content.styled("muxtui does not run tools: the reply is only these calls", "dim"))
    return Content("\n").join(lines) if lines else None


class UserMessage(Static):
    """What the user typed, shown literally (no Markdown, no markup); a large paste collapsed to
    its first lines, as laying out megabytes would stall the app (muxtui.ui.large_text)."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.message_id: str = message.get("id", "")
        label = Content.styled("you", "bold $primary")
        if message.get("queue_ids"):
            label += Content.styled(" · sent from the queue", "dim")
        text = message.get("content", "")
        if large_text.is_large(text):
            body = Content(visible(large_text.preview(text))) + Content.styled(
                f"\n… collapsed: {large_text.size_label(text)} in all, sent and saved in full", "dim italic")
        else:
            body = Content(visible(text))
        super().__init__(label + Content("\n") + body, classes="message")


class SummaryMessage(Static):
    """A compaction summary (``summary: true``): it stands in for the messages above it in
    requests; those stay in the chat, collapsed (``-summarized``)."""

    def __init__(self, message: dict[str, Any]) -> None:
        self.message_id: str = message.get("id", "")
        span = message.get("summarizes") or ["?", "?"]
        label = Content.styled("summary", "bold $secondary") + Content.styled(
            f" · compacted messages {span[0]}–{span[-1]} with {one_line(short_model(message.get('model') or ''))};"
            " requests send this instead of them", "dim")
        super().__init__(label + Content("\n") + Content(visible(message.get("content", ""))),
                         classes="message summary")


def summarized_ids(messages: list[dict[str, Any]]) -> set[str]:
    """Ids of the messages some summary stands in for (shown collapsed)."""
    spans = [m["summarizes"] for m in messages if m.get("summary") and isinstance(m.get("summarizes"), list)
             and len(m["summarizes"]) == 2 and all(type(x) is int for x in m["summarizes"])]
    return {m.get("id", "") for m in messages if not m.get("summary") and isinstance(m.get("seq"), int)
            and any(a <= m["seq"] <= b for a, b in spans)}


class AssistantMessage(Vertical):
    """One reply: model line, collapsed reasoning, Markdown body, status (interrupted/error/usage)."""

    def __init__(self, message: dict[str, Any] | None = None, *, live_text: str = "", live_reasoning: str = "",
                 model: str = "", request_id: str | None = None) -> None:
        super().__init__(classes="message")
        self.live = message is None
        self.request_id = request_id or (message or {}).get("request_id")
        self.message_id: str = (message or {}).get("id", "")
        self.model = (message or {}).get("model") or model
        self._message = message
        self._reasoning = visible((message or {}).get("reasoning") or live_reasoning)
        self._text = visible((message or {}).get("content", "") if message else live_text)
        self._notice = ""
        self.body = StreamingMarkdown(self._text, streaming=self.live, classes="body")
        self.reasoning_box: Collapsible | None = None
        self.reasoning_text = Static(Content(self._reasoning), classes="reasoning-text")
        self.head = Static(classes="head")
        self.parts = Static(classes="parts")  # refusal, tool calls, sources (from the saved message)
        self.status = Static(classes="status")

    def compose(self):
        yield self.head
        if self.live or self._reasoning:
            self.reasoning_box = Collapsible(self.reasoning_text, title="Reasoning", collapsed=True,
                                             classes="reasoning")
            self.reasoning_box.display = bool(self._reasoning)
            yield self.reasoning_box
        yield self.body
        yield self.parts
        yield self.status

    def on_mount(self) -> None:
        self._render_meta()

    # ---- streaming ------------------------------------------------------------------------
    def append(self, text: str, reasoning: str) -> None:
        """Called at most once per frame with everything buffered since the last frame."""
        if self._notice:
            self._notice = ""
            self._render_meta()
        if reasoning:
            self._reasoning += visible(reasoning)
            if self.reasoning_box is not None:
                self.reasoning_box.display = True
                self.reasoning_text.update(Content(self._reasoning))
        if text:
            self.body.append(visible(text))

    def notice(self, text: str) -> None:
        """A transient line under a live reply ("retrying in 2 s: rate_limit")."""
        self._notice = text
        self._render_meta()

    async def finish(self, message: dict[str, Any]) -> None:
        self.live = False
        self._message = message
        self.message_id = message.get("id", "")
        self.model = message.get("model") or self.model
        self._notice = ""
        reasoning = visible(message.get("reasoning") or "")
        if reasoning and self.reasoning_box is not None:
            self._reasoning = reasoning
            self.reasoning_box.display = True
            self.reasoning_text.update(Content(reasoning))
        await self.body.finish(visible(message.get("content", "")))
        self._render_meta()

    # ---- labels ---------------------------------------------------------------------------
    def _render_meta(self) -> None:
        m = self._message or {}
        head = Content.styled(one_line(short_model(self.model or "?"), 40), "bold $secondary")
        if self.live:
            head += Content.styled(" · streaming", "dim")
        self.head.update(head)
        status = m.get("status")
        lines: list[Content] = []
        if self.live:
            if self._notice:
                lines.append(Content.styled(one_line(self._notice), "$warning"))
        elif status == "interrupted" and m.get("finish_reason") == "pause_turn":
            lines.append(Content.styled(
                "⏸ the provider paused this turn before it finished — send “continue” to let it go on, "
                f"or {self._key('retry')} to regenerate", "$warning"))
        elif status == "interrupted":
            what = "recovered after a crash" if m.get("recovered") else "interrupted"
            lines.append(Content.styled(f"↻ {what} — {self._continue_hint(m)}", "$warning"))
        elif status == "error":
            error_type = m.get("error_type") or "error"
            lines.append(Content.assemble(
                ("✗ ", "bold $error"), (error_type, "bold $error"),
                (": " + one_line(m.get("error") or ""), "$error") if m.get("error") else "",
            ))
            lines.append(Content.styled("  " + error_hint(error_type, self._key_for), "dim"))
            if error_type in CONTINUABLE_ERRORS and m.get("content"):
                lines.append(Content.styled("  " + self._continue_hint(m), "dim"))
            if isinstance(m.get("retry_at"), (int, float)):  # a long Retry-After: the badge counts down
                when = datetime.fromtimestamp(m["retry_at"]).strftime("%H:%M:%S")
                lines.append(Content.styled(f"  the provider asks to wait until {when}", "dim"))
            if m.get("unsaved"):
                lines.append(Content.styled("  (not saved to disk yet: kept in memory, retried every few seconds)", "dim"))
        parts = None if self.live else parts_content(m)
        self.parts.update(parts or "")
        self.parts.display = parts is not None
        usage = usage_text(m.get("usage"))
        if usage and not self.live:
            lines.append(Content.styled(usage, "dim"))
        self.status.update(Content("\n").join(lines))
        self.status.display = bool(lines)
        self.set_class(status == "error", "-error")
        self.set_class(status == "interrupted", "-interrupted")


    def _key_for(self, binding_id: str, default: str) -> str:
        key_for = getattr(self.app, "key_for", None)
        return key_for(binding_id, default) if key_for is not None else default

    def _key(self, binding_id: str) -> str:
        return self._key_for(binding_id, DEFAULT_KEYS.get(binding_id, binding_id))

    def _continue_hint(self, m: dict[str, Any]) -> str:
        """What the keys do for a reply that stopped short (keys from the live keymap)."""
        cont, retry = self._key("continue"), self._key("retry")
        if not m.get("content"):
            return f"{retry} regenerates it"
        return f"{cont} continues it, {retry} regenerates it"

    def source_text(self) -> str:
        """The reply as the model wrote it (Markdown source), not as painted on screen."""
        if self._message is not None and not self.live:
            return str(self._message.get("content") or "")
        return self.body.text


def _covers_all(widget: Widget, selection: Selection) -> bool:
    if selection == SELECT_ALL:
        return True
    whole = widget.get_selection(SELECT_ALL)
    part = widget.get_selection(selection)
    return whole is not None and part is not None and part[0].strip() == whole[0].strip()


def selected_text(selections: dict[Widget, Selection]) -> str | None:
    """What a mouse selection copies: like Textual's ``Screen.get_selected_text``, except that a
    reply whose whole body is selected copies its Markdown source. The painted lines hold the
    renderer's layout (hard newlines at wrap points, code blocks indented by their padding),
    which is not what the user wants to paste."""
    if not selections:
        return None
    parts: list[str] = []
    done: set[Widget] = set()
    for widget, selection in selections.items():
        if not widget.is_attached:
            continue  # removed since the text was selected
        body = next((a for a in widget.ancestors if isinstance(a, StreamingMarkdown)), None)
        message = body.parent if body is not None else None
        if isinstance(message, AssistantMessage) and message.body is body:
            if body in done:
                continue
            texts = [w for w in body.walk_children(Widget) if w.display and (w.get_selection(SELECT_ALL) or ("",))[0]]
            if texts and all(w in selections and _covers_all(w, selections[w]) for w in texts):
                done.add(body)
                parts.append(message.source_text().rstrip("\n") + "\n")
                continue
        extracted = widget.get_selection(selection)
        if extracted is not None:
            parts.extend(extracted)
    return "".join(parts).rstrip("\n")


class EarlierMarker(Static):
    """"▲ N earlier messages" at the top when not everything is mounted."""

    def show_count(self, count: int) -> None:
        self.display = count > 0
        noun = "message" if count == 1 else "messages"
        self.update(Content.styled(f"▲ {count} earlier {noun} — scroll up or ctrl+home to load", "dim"))

    def on_click(self) -> None:
        self.post_message(ChatView.LoadEarlier())


class QueuedItem(Static, can_focus=True):
    """A message waiting for the current reply to finish: e edits it, delete removes it."""

    BINDINGS = [
        Binding("e", "edit", "Edit queued", id="queued-edit"),
        Binding("delete,backspace", "remove", "Remove queued", id="queued-remove"),
        # Esc leaves the item (back to typing), as it leaves the conversation; it does not stop
        # the reply the user is waiting for (the app's interrupt yields to this binding).
        Binding("escape", "leave", "Back to composer", id="queued-leave", show=False),
    ]

    class Edit(Message):
        def __init__(self, item_id: str, text: str, number: int) -> None:
            super().__init__()
            self.item_id, self.text, self.number = item_id, text, number

    class Remove(Message):
        def __init__(self, item_id: str) -> None:
            super().__init__()
            self.item_id = item_id

    def __init__(self, item: dict[str, Any], number: int) -> None:
        self.item_id: str = item["id"]
        self.text: str = item.get("text", "")
        self.number = number
        super().__init__(self._label(), classes="queued-item")

    def _label(self) -> Content:
        if large_text.is_large(self.text):
            return Content.assemble((f"{self.number}. ", "bold $accent"), one_line(self.text[:200], 60),
                                    (f" ({large_text.size_label(self.text)})", "dim"))
        return Content.assemble((f"{self.number}. ", "bold $accent"), visible(self.text))

    def action_edit(self) -> None:
        self.post_message(self.Edit(self.item_id, self.text, self.number))

    def action_remove(self) -> None:
        self.post_message(self.Remove(self.item_id))

    def action_leave(self) -> None:
        composer = self.app.query("#composer")
        if composer:
            composer.first().focus()

    def on_click(self) -> None:
        self.focus()


class QueueList(Vertical):
    """Messages waiting under the streaming reply, numbered in the order they will be sent."""

    count = 0
    streaming = False

    def on_mount(self) -> None:
        self.border_subtitle = "shift+tab focuses · e edit · del remove"

    async def set_items(self, items: list[dict[str, Any]]) -> None:
        existing = list(self.query(QueuedItem))
        same = [(w.item_id, w.text) for w in existing] == [(i["id"], i.get("text", "")) for i in items]
        if same:
            return
        focused_index = next((n for n, w in enumerate(existing) if w.has_focus), None)
        if focused_index is not None:
            release_focus(self, existing)
        await self.remove_children(QueuedItem)
        widgets = [QueuedItem(item, n) for n, item in enumerate(items, 1)]
        if widgets:
            await self.mount_all(widgets)
            if focused_index is not None:
                widgets[min(focused_index, len(widgets) - 1)].focus()
        self.count = len(items)
        self.retitle()
        self.display = bool(items)

    def retitle(self, streaming: bool | None = None) -> None:
        if streaming is not None:
            self.streaming = streaming
        # Without a running reply (after an error, a crash, a restart) nothing sends the queue
        # by itself: it goes out with the next message.
        when = "sent together when this reply ends" if self.streaming else "sent with your next message (enter)"
        self.border_title = f"queued · {self.count} · {when}"


def release_focus(node: Widget, doomed: Iterable[Widget]) -> None:
    """Focus inside widgets about to be removed moves to the composer first.

    Synchronously, before the removal awaits: keys typed meanwhile (a burst over SSH, or typing
    while a queued message is sent) must land in the composer, not in whatever Textual picks
    next in the focus chain (the chat pane, another message), where they would be dropped."""
    try:
        screen = node.screen
    except Exception:  # not on a screen (yet / any more): nothing can be focused
        return
    focused = screen.focused
    if focused is None:
        return
    doomed = set(doomed)
    if focused in doomed or any(a in doomed for a in focused.ancestors):
        for composer in screen.query("#composer"):
            screen.set_focus(composer)


class ChatView(VerticalScroll):
    """Messages of one workspace at a time; see the module docstring for the rules."""

    # Find in this workspace: "/" asks for words; n / N step to the older / newer hit.
    BINDINGS = [
        Binding("slash", "app.find_in_workspace", "Find", id="chat-find", show=False),
        Binding("n", "app.find_next(1)", "Older hit", id="find-older", show=False),
        Binding("N", "app.find_next(-1)", "Newer hit", id="find-newer", show=False),
    ]

    class LoadEarlier(Message):
        pass

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lock = asyncio.Lock()
        self.workspace_id: str | None = None
        self.live: AssistantMessage | None = None
        self._workspace: Any = None  # the app's WorkspaceView (read only: .messages, .queue)
        self._first = 0  # index in the history of the first mounted message
        self._shown: set[str] = set()
        self._summarized: set[str] = set()  # ids of messages a summary stands in for (collapsed)
        self.marker = EarlierMarker(classes="earlier")
        self.hint = Static(classes="empty-hint")
        self.queue = QueueList(classes="queue")
        self.on_live_mounted = lambda: None  # set by the app: flush deltas buffered meanwhile

    def compose(self):
        yield self.marker
        yield self.hint
        yield self.queue

    def on_mount(self) -> None:
        self.marker.display = False
        self.hint.display = False
        self.queue.display = False
        self.anchor()
        self.watch(self, "scroll_y", self._scrolled, init=False)

    def _scrolled(self, old: float, new: float) -> None:
        if new <= 0 < old and self._first > 0 and not self.lock.locked():
            self.post_message(self.LoadEarlier())

    # ---- the only place chat widgets are mounted ------------------------------------------
    async def _mount(self, widgets: list[Widget], *, top: bool = False) -> None:
        if not widgets:
            return
        self.hint.display = False
        if top:
            await self.mount_all(widgets, after=self.marker)
        else:
            await self.mount_all(widgets, before=self.queue)

    def _widget_for(self, message: dict[str, Any]) -> Widget:
        self._shown.add(message.get("id", ""))
        if message.get("summary"):
            return SummaryMessage(message)
        widget = UserMessage(message) if message.get("role") == "user" else AssistantMessage(message)
        if message.get("id") in self._summarized:
            widget.add_class("-summarized")
        return widget

    def _collapse_summarized(self) -> None:
        self._summarized = summarized_ids(self._workspace.messages) if self._workspace is not None else set()
        for widget in self._message_widgets():
            widget.set_class(getattr(widget, "message_id", None) in self._summarized, "-summarized")

    def _message_widgets(self) -> list[Widget]:
        return [w for w in self.children if isinstance(w, (UserMessage, AssistantMessage, SummaryMessage))]

    async def _prune(self) -> None:
        widgets = [w for w in self._message_widgets() if w is not self.live]
        if len(widgets) <= MAX_MOUNTED:
            return
        drop = widgets[: len(widgets) - WINDOW]
        for w in drop:
            self._shown.discard(getattr(w, "message_id", ""))
        self._first += len(drop)
        release_focus(self, drop)
        await self.remove_children(drop)
        self.marker.show_count(self._first)

    # ---- operations (each holds the lock) -------------------------------------------------
    async def show(self, workspace_id: str, workspace: Any) -> None:
        """Replace the pane with a workspace view: its last WINDOW messages, the live reply as far
        as the view's snapshot holds it (the deltas after it are buffered), the queue."""
        async with self.lock:
            self.workspace_id = workspace_id
            self.live = None
            self.queue.retitle(self.live is not None)
            self._workspace = workspace
            self._shown = set()
            self._summarized = summarized_ids(workspace.messages)
            release_focus(self, self._message_widgets())
            await self.remove_children(self._message_widgets())
            messages = workspace.messages
            self._first = max(0, len(messages) - WINDOW)
            widgets = [self._widget_for(m) for m in messages[self._first:]]
            run = workspace.live
            live = None
            if run is not None:
                live = AssistantMessage(live_text=run.text, live_reasoning=run.reasoning, model=run.model,
                                        request_id=run.request_id)
                widgets.append(live)
            queue = list(workspace.queue)
            self.marker.show_count(self._first)
            self.hint.display = not widgets
            if not widgets:
                self.hint.update(Content.assemble(
                    ("New conversation", "bold"), " on ", (one_line(workspace.info.model), "$secondary"), ".\n",
                    ("Type below and press enter to send; alt+enter adds a newline.\n"
                     "ctrl+o picks the model, ctrl+n makes another workspace, ctrl+p lists every command.", "dim")))
            await self._mount(widgets)
            await self.queue.set_items(queue)
            self.live = live
            self.queue.retitle(self.live is not None)
            self.anchor()  # to the end, and follow it until the user scrolls away
        if live is not None:
            self.on_live_mounted()

    async def post(self, workspace_id: str, message: dict[str, Any]) -> None:
        """A committed message (user message, or a reply we have no live widget for)."""
        async with self.lock:
            if workspace_id != self.workspace_id or message.get("id") in self._shown:
                return
            await self._mount([self._widget_for(message)])
            if message.get("summary"):
                self._collapse_summarized()
            await self._prune()

    async def start_live(self, workspace_id: str, request_id: str, model: str) -> None:
        """A reply started: an empty live widget; its deltas are buffered and follow."""
        async with self.lock:
            if workspace_id != self.workspace_id:
                return
            if self.live is not None and self.live.request_id == request_id:
                return  # show() got there first
            live = AssistantMessage(model=model, request_id=request_id)
            await self._mount([live])
            self.live = live
            self.queue.retitle(self.live is not None)
            await self._prune()
        self.on_live_mounted()

    async def close_live(self, workspace_id: str, request_id: str, message: dict[str, Any]) -> None:
        async with self.lock:
            if workspace_id != self.workspace_id:
                return
            live = self.live
            if live is not None and live.request_id == request_id:
                self.live = None
                self.queue.retitle(self.live is not None)
                self._shown.add(message.get("id", ""))
                await live.finish(message)
            elif message.get("id") not in self._shown:
                await self._mount([self._widget_for(message)])
                await self._prune()

    async def set_queue(self, workspace_id: str, items: list[dict[str, Any]]) -> None:
        async with self.lock:
            if workspace_id == self.workspace_id:
                await self.queue.set_items(items)

    async def load_earlier(self) -> int:
        async with self.lock:
            if self._first <= 0:
                return 0
            start = max(0, self._first - WINDOW)
            chunk = self._workspace.messages[start:self._first] if self._workspace is not None else []
            from_bottom = self.max_scroll_y - self.scroll_y
            self.release_anchor()
            widgets = [self._widget_for(m) for m in chunk]
            await self._mount(widgets, top=True)
            self._first = start
            self.marker.show_count(self._first)

            def keep_position() -> None:
                self.scroll_to(y=max(0, self.max_scroll_y - from_bottom), animate=False, immediate=True)

            self.call_after_refresh(keep_position)
            return len(widgets)

    async def reveal(self, message_id: str) -> bool:
        """Mount history back to a message if needed, scroll to it and mark it (a search hit)."""
        async with self.lock:
            messages = self._workspace.messages if self._workspace is not None else []
            index = next((n for n, m in enumerate(messages) if m.get("id") == message_id), None)
            if index is None:
                return False
            if index < self._first:
                self.release_anchor()
                await self._mount([self._widget_for(m) for m in messages[index:self._first]], top=True)
                self._first = index
                self.marker.show_count(self._first)
            target = None
            for widget in self._message_widgets():
                hit = getattr(widget, "message_id", None) == message_id
                widget.set_class(hit, "-hit")
                target = widget if hit else target
            if target is None:
                return False
            self.release_anchor()
            self.call_after_refresh(lambda: self.scroll_to_widget(target, animate=False, top=True, immediate=True))
            return True

    def notice(self, workspace_id: str, request_id: str, text: str) -> None:
        if workspace_id == self.workspace_id and self.live is not None and self.live.request_id == request_id:
            self.live.notice(text)

    def queued_items(self) -> Iterable[QueuedItem]:
        return self.queue.query(QueuedItem)

    def on_key(self, event: events.Key) -> None:
        # home at the very top asks for more history
        if event.key == "home" and self._first > 0:
            self.post_message(self.LoadEarlier())
            return
        # Text typed while something in the chat has focus (a queued message, a reasoning
        # toggle, the pane itself) goes to the composer instead of being dropped. Keys bound
        # where the focus is (e on a queued message, ...) are left to their bindings.
        if event.is_printable and event.character and event.key not in self.app.active_bindings:
            for composer in self.screen.query("#composer"):
                event.stop()
                event.prevent_default()
                self.screen.set_focus(composer)
                composer.insert(event.character)
