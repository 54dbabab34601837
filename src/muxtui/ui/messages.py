"""How one message looks in the chat: the user's messages, the replies (streaming or saved, with
their reasoning, tool calls, refusal and sources, usage and status line), compaction summaries,
and the text a selection copies. Hints name keys from the user's keymap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.containers import Vertical
from textual.content import Content
from textual.selection import SELECT_ALL, Selection
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from muxtui.client import CONTINUABLE_ERRORS, HINTS, ErrorType
from muxtui.ui import attach_chips, large_text
from muxtui.ui.markdown import StreamingMarkdown
from muxtui.ui.safe import one_line, visible
from muxtui.ui.state import short_model

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
    its first lines, as laying out megabytes would stall the app (muxtui.ui.large_text); its
    attachments as a row of chips under it (muxtui.ui.attach_chips)."""

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
        chips = attach_chips.row(message.get("attachments"))
        if chips is not None:
            body = body + Content("\n") + chips if text else chips
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
        self.reasoning_text: Static | None = None  # made with reasoning_box
        self.head = Static(classes="head")
        self.parts = Static(classes="parts")  # refusal, tool calls, sources (from the saved message)
        self.status = Static(classes="status")

    def compose(self):
        yield self.head
        if self._reasoning:
            yield self._make_reasoning_box()
        yield self.body
        yield self.parts
        yield self.status

    def on_mount(self) -> None:
        self._render_meta()

    def _make_reasoning_box(self) -> Collapsible:
        # Made when there is reasoning to show, never ahead for a live reply that may have none:
        # a Collapsible is four widgets to mount between Enter and the first token on screen.
        self.reasoning_text = Static(Content(self._reasoning), classes="reasoning-text")
        self.reasoning_box = Collapsible(self.reasoning_text, title="Reasoning", collapsed=True, classes="reasoning")
        return self.reasoning_box

    def _show_reasoning(self, reasoning: str):
        """Show `reasoning` in the collapsed box (mounted under the head the first time)."""
        if self.reasoning_text is not None:
            self.reasoning_text.update(Content(reasoning))
        elif self.is_mounted:
            return self.mount(self._make_reasoning_box(), before=self.body)
        return None

    # ---- streaming ------------------------------------------------------------------------
    def append(self, text: str, reasoning: str) -> None:
        """Called at most once per frame with everything buffered since the last frame."""
        if self._notice:
            self._notice = ""
            self._render_meta()
        if reasoning:
            self._reasoning += visible(reasoning)
            self._show_reasoning(self._reasoning)
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
        if reasoning:
            self._reasoning = reasoning
            mounting = self._show_reasoning(reasoning)
            if mounting is not None:
                await mounting
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
            lines.append(Content.styled("  " + self._error_hint(error_type, m), "dim"))
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

    def _error_hint(self, error_type: str, m: dict[str, Any]) -> str:
        """What went wrong and what to do, on one line. A reply that stopped short with text kept
        says what ctrl+g and ctrl+r do instead of the hint's "ctrl+r to retry" (which said the
        retry key twice, two lines apart)."""
        hint = error_hint(error_type, self._key_for)
        if error_type not in CONTINUABLE_ERRORS or not m.get("content"):
            return hint
        head, found, _ = hint.partition(f"{self._key('retry')} to retry")
        what = head.rstrip(" ,:") if found else hint
        return f"{what} — {self._continue_hint(m)}" if what else self._continue_hint(m)

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
