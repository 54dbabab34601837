"""The messages waiting for the running turn, and the user message a turn starts from.

Owns the queue (contract point 7): a message sent while a reply streams is kept in
``queue.json`` (atomic rewrite, in order) and on screen; it can be edited or removed; when a
turn completes, the whole queue goes out as one merged user message, committed to history and
taken off ``queue.json`` together under the workspace's write lock; an interrupt hands the
queued text back. Also the commit of a typed user message, which is the same path without
queue items.

The contract's numbers are those of muxtui.engine.manager's docstring.
"""

from __future__ import annotations

import asyncio

from muxtui.engine import events as ev
from muxtui.engine.runs import Emit, Workspace
from muxtui.engine.storage import new_id, now
from muxtui.engine.surrogates import fix_surrogates


class SendQueue:
    """Queue edits and user-message commits of open workspaces; each change is emitted."""

    def __init__(self, emit: Emit):
        self._emit = emit

    async def add(self, ws: Workspace, text: str, attachments: list[dict] | None = None) -> None:
        item = {"id": new_id("q"), "text": text, "created_at": now()}
        if attachments:
            item["attachments"] = list(attachments)
        async with ws.io:
            ws.queue.append(item)
            await asyncio.to_thread(ws.store.save_queue, list(ws.queue))
        self._emit(ev.QUEUE_CHANGED, ws.info.id, items=list(ws.queue))

    async def edit(self, ws: Workspace, item_id: str, text: str, attachments: list[dict] | None = None) -> None:
        """New text for a queued message; its attachments stay unless ``attachments`` is given
        (a list, maybe empty: they are replaced)."""
        ws_id = ws.info.id
        async with ws.io:
            for item in ws.queue:
                if item["id"] == item_id:
                    item["text"] = text
                    if attachments is not None:
                        if attachments:
                            item["attachments"] = list(attachments)
                        else:
                            item.pop("attachments", None)
                    break
            else:
                raise KeyError(f"no queued message {item_id!r}")
            await asyncio.to_thread(ws.store.save_queue, list(ws.queue))
        self._emit(ev.QUEUE_CHANGED, ws_id, items=list(ws.queue))

    async def remove(self, ws: Workspace, item_id: str) -> dict | None:
        ws_id = ws.info.id
        async with ws.io:
            item = next((q for q in ws.queue if q["id"] == item_id), None)
            if item is None:
                return None
            ws.queue.remove(item)
            await asyncio.to_thread(ws.store.save_queue, list(ws.queue))
        self._emit(ev.QUEUE_CHANGED, ws_id, items=list(ws.queue))
        return item

    async def hand_back(self, ws: Workspace) -> dict | None:
        """Empty the queue: ``{"text": its texts joined, "attachments": theirs}`` (None when it
        was empty)."""
        ws_id = ws.info.id
        handback = None
        async with ws.io:
            if ws.queue:
                handback = {"text": "\n\n".join(q["text"] for q in ws.queue if q["text"]),
                            "attachments": merged_attachments(ws.queue)}
                ws.queue = []
                await asyncio.to_thread(ws.store.save_queue, [])
        if handback is not None:
            self._emit(ev.QUEUE_CHANGED, ws_id, items=[])
        return handback

    async def add_user_message(self, ws: Workspace, text: str, queue_ids: list[str],
                               attachments: list[dict] | None = None) -> dict:
        """Commit a user message; the queue items it merges leave the queue in the same step."""
        msg = {"id": new_id("m"), "role": "user", "content": fix_surrogates(text), "created_at": now()}
        if attachments:  # only then: a message without attachments is stored as before
            msg["attachments"] = list(attachments)
        if queue_ids:
            msg["queue_ids"] = queue_ids
        async with ws.io:
            committed = await asyncio.to_thread(ws.store.append, msg)
            ws.messages.append(committed)
            if queue_ids:
                ws.queue = [q for q in ws.queue if q["id"] not in set(queue_ids)]
                await asyncio.to_thread(ws.store.save_queue, list(ws.queue))
        self._emit(ev.MESSAGE_ADDED, ws.info.id, message=committed)
        if queue_ids:
            self._emit(ev.QUEUE_CHANGED, ws.info.id, items=list(ws.queue))
        return committed


def merged_text(items: list[dict], text: str | None = None) -> str:
    """Queued messages (and a new one) as one message: their texts, blank lines between."""
    parts = [q["text"] for q in items if q.get("text")]
    if text:
        parts.append(text)
    return "\n\n".join(parts)


def merged_attachments(items: list[dict], extra: list[dict] | None = None) -> list[dict]:
    """The attachments of queued messages (and a new one's), in order, each file once."""
    out: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for ref in [r for q in items for r in q.get("attachments") or ()] + list(extra or ()):
        key = (ref.get("id"), ref.get("name"))
        if key not in seen:
            seen.add(key)
            out.append(ref)
    return out
