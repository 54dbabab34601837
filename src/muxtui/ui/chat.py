"""The chat pane: messages of the current workspace, the reply being streamed, the queue.

``ChatView`` is the one place that mounts chat widgets. Every change goes through a method that
holds ``ChatView.lock`` (an asyncio.Lock), so a workspace switch, an engine event and "load
earlier" never interleave their mounts. Only the last messages are mounted: about
``MOUNT_CHARS`` of text (a few screens; at least ``MIN_MOUNTED``, at most ``WINDOW`` messages);
earlier ones are mounted on demand (scrolling to the top, ctrl+home: ``WINDOW`` at a time, the
scroll position kept), and a long session is pruned back to that size as replies come, so the
DOM, the layout and the memory of a long chat stay as they were after its first few replies.

All model and user text goes through ``safe.visible`` and is rendered as Markdown (replies,
via StreamingMarkdown) or as literal ``Content`` (everything else): never as console markup.
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterable

from textual import events
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from muxtui.ui import attach_chips, large_text, textual_private
from muxtui.ui.safe import one_line, visible
from muxtui.ui.messages import AssistantMessage, SummaryMessage, UserMessage, summarized_ids

WINDOW = 40  # at most this many messages mounted when a workspace is shown; per "load earlier"
MAX_MOUNTED = 80  # past this, the oldest are unmounted back down to the window
MOUNT_CHARS = 8_000  # text of the messages mounted from the end: a few screens of it
MIN_MOUNTED = 4  # ... but at least this many messages (two turns), however long
PRUNE_STEP = 8  # unmount once this many messages are beyond the window (not every reply)


def text_size(message: dict[str, Any]) -> int:
    """How much a message weighs on screen, for the mount window (its text and reasoning)."""
    return len(message.get("content") or "") + len(message.get("reasoning") or "") + 80


def window_start(sizes: list[int]) -> int:
    """Index of the first of `sizes` (oldest first) to keep mounted: the shortest tail holding
    MOUNT_CHARS and MIN_MOUNTED messages, at most WINDOW messages."""
    total, start = 0, len(sizes)
    while start > 0 and len(sizes) - start < WINDOW:
        if total >= MOUNT_CHARS and len(sizes) - start >= MIN_MOUNTED:
            break
        start -= 1
        total += sizes[start]
    return start


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
        def __init__(self, item_id: str, text: str, number: int, attachments: list[dict] | None = None) -> None:
            super().__init__()
            self.item_id, self.text, self.number = item_id, text, number
            self.attachments = attachments or []

    class Remove(Message):
        def __init__(self, item_id: str) -> None:
            super().__init__()
            self.item_id = item_id

    def __init__(self, item: dict[str, Any], number: int) -> None:
        self.item_id: str = item["id"]
        self.text: str = item.get("text", "")
        self.attachments: list[dict] = [a for a in item.get("attachments") or () if isinstance(a, dict)]
        self.number = number
        super().__init__(self._label(), classes="queued-item")

    def _label(self) -> Content:
        if large_text.is_large(self.text):
            label = Content.assemble((f"{self.number}. ", "bold $accent"), one_line(self.text[:200], 60),
                                     (f" ({large_text.size_label(self.text)})", "dim"))
        else:
            label = Content.assemble((f"{self.number}. ", "bold $accent"), visible(self.text))
        chips = attach_chips.row(self.attachments)
        return label if chips is None else label + (Content(" ") if self.text else Content("")) + chips

    def action_edit(self) -> None:
        self.post_message(self.Edit(self.item_id, self.text, self.number, self.attachments))

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
        same = [(w.item_id, w.text, w.attachments) for w in existing] == [
            (i["id"], i.get("text", ""), [a for a in i.get("attachments") or () if isinstance(a, dict)]) for i in items]
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

    def _release_offscreen(self) -> None:
        """Messages more than a screen away from the visible part forget their painted lines
        (each line a Strip with caches of its own: ~1 KB, for every line of every reply)."""
        height = self.size.height
        if not height:
            return
        top, bottom = self.scroll_y - height, self.scroll_y + 2 * height
        for widget in self._message_widgets():
            region = widget.virtual_region_with_margin
            if region.bottom < top or region.y > bottom:
                textual_private.release_painted_lines(widget)
                for node in widget.walk_children():
                    textual_private.release_painted_lines(node)

    async def _prune(self) -> None:
        self._release_offscreen()
        widgets = [w for w in self._message_widgets() if w is not self.live]
        if len(widgets) <= MIN_MOUNTED + PRUNE_STEP:
            return
        known = {m.get("id"): text_size(m) for m in self._workspace.messages[-len(widgets) - 2:]} \
            if self._workspace is not None else {}
        keep = len(widgets) - window_start([known.get(getattr(w, "message_id", None), 80) for w in widgets])
        if len(widgets) <= MAX_MOUNTED and len(widgets) - keep < PRUNE_STEP:
            return
        drop = widgets[: len(widgets) - keep]
        # Keep what the user reads where it is when they are scrolled up (following the bottom,
        # the anchor keeps the end in view anyway).
        following = self.scroll_y >= self.max_scroll_y - 1
        removed = widgets[len(drop)].virtual_region_with_margin.y - drop[0].virtual_region_with_margin.y
        for w in drop:
            self._shown.discard(getattr(w, "message_id", ""))
        self._first += len(drop)
        release_focus(self, drop)
        y = self.scroll_y
        await self.remove_children(drop)
        self.marker.show_count(self._first)
        if not following and removed > 0:
            self.scroll_to(y=max(0, y - removed), animate=False, immediate=True)

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
            tail = max(0, len(messages) - WINDOW)
            self._first = tail + window_start([text_size(m) for m in messages[tail:]])
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
                self._release_offscreen()
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
