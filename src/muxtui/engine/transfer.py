"""Export a workspace as JSON, and import a JSON export or an OpenAI-style messages array.

The JSON export (``format: "muxtui.workspace"``, ``v: 1``) holds the workspace's name and model
and its messages as stored (truncated branches are not part of the conversation, so they are not
exported). Import checks the whole file first and writes nothing if any message is unusable;
it then creates a new workspace and appends the messages through the normal history path.
"""

from __future__ import annotations

import json
from datetime import datetime
import time
from typing import Any

from muxtui.engine.attachments import Blobs, check_ref, megabytes, safe_name
from muxtui.engine.storage import Storage, WorkspaceInfo, new_id, valid_time

EXPORT_FORMAT = "muxtui.workspace"
EXPORT_VERSION = 1
# Fields carried from an export into the imported history (ids and seqs are assigned anew).
KEPT = ("role", "content", "created_at", "model", "status", "reasoning", "error_type", "error", "retryable",
        "http_status", "usage", "finish_reason", "recovered")
ROLE_ALIASES = {"developer": "system"}
STATUSES = ("complete", "interrupted", "error")


class ImportError_(ValueError):
    """The file cannot be imported; the message says which part and why."""


def export_json(info: WorkspaceInfo, messages: list[dict[str, Any]]) -> str:
    return json.dumps({
        "format": EXPORT_FORMAT, "v": EXPORT_VERSION, "exported_at": time.time(),
        "workspace": {"id": info.id, "name": info.name, "model": info.model, "created_at": info.created_at},
        "messages": [{k: v for k, v in m.items() if k not in ("v", "kind", "unsaved")} for m in messages],
    }, ensure_ascii=False, indent=1) + "\n"


def when_text(timestamp: float | None) -> str:
    if not timestamp:
        return "unknown time"  # missing or damaged on disk (storage has warned)
    try:
        return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):
        return "unknown time"


def export_markdown(info: WorkspaceInfo, messages: list[dict[str, Any]]) -> str:
    lines = [f"# {info.name}", "", f"Model: `{info.model}`", ""]
    for m in messages:
        when = when_text(m.get("created_at"))
        if m["role"] == "user":
            lines += [f"## You · {when}", "", m.get("content", ""), ""]
            if m.get("attachments"):
                names = ", ".join(f"`{safe_name(r.get('name'))}` ({r.get('kind')}, {megabytes(int(r.get('size') or 0))})"
                                  for r in m["attachments"])
                lines += [f"Attached: {names}", ""]
        else:
            status = "" if m.get("status") == "complete" else f" · {m.get('status')}"
            lines += [f"## {m.get('model')} · {when}{status}", ""]
            if m.get("reasoning"):
                lines += ["<details><summary>Reasoning</summary>", "", m["reasoning"], "", "</details>", ""]
            lines += [m.get("content", ""), ""]
            if m.get("status") == "error":
                lines += [f"> **Error** ({m.get('error_type')}): {m.get('error')}", ""]
    return "\n".join(lines)


def _text_of(content: Any, where: str) -> str:
    """Message content: a string, or an OpenAI list of parts (text parts joined; others named)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out: list[str] = []
        for n, part in enumerate(content):
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
            elif isinstance(part, dict) and isinstance(part.get("type"), str):
                out.append(f"[{part['type']} part not imported]")
            else:
                raise ImportError_(f"{where}: content part {n + 1} is neither text nor a typed part")
        return "\n\n".join(out)
    raise ImportError_(f"{where}: content is {type(content).__name__}, not text or a list of parts")


def parse_import(data: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(workspace fields, messages) from a muxtui export or a messages array; raises ImportError_."""
    workspace: dict[str, Any] = {}
    if isinstance(data, dict):
        if data.get("format") == EXPORT_FORMAT and isinstance(data.get("v"), int) and data["v"] > EXPORT_VERSION:
            raise ImportError_(f"export format version {data['v']} is newer than this muxtui ({EXPORT_VERSION})")
        if isinstance(data.get("workspace"), dict):
            workspace = data["workspace"]
        data = data.get("messages")
    if not isinstance(data, list):
        raise ImportError_("expected a muxtui JSON export or a JSON array of {\"role\", \"content\"} messages")
    messages: list[dict[str, Any]] = []
    for n, raw in enumerate(data, 1):
        where = f"message {n}"
        if not isinstance(raw, dict):
            raise ImportError_(f"{where} is not an object")
        role = ROLE_ALIASES.get(raw.get("role"), raw.get("role"))
        if role not in ("user", "assistant", "system"):
            raise ImportError_(f"{where}: role {raw.get('role')!r} cannot be imported (user, assistant, system, "
                               "developer)")
        msg: dict[str, Any] = {k: raw[k] for k in KEPT if k in raw and raw[k] is not None}
        msg["role"] = role
        msg["content"] = _text_of(raw.get("content"), where)
        msg["id"] = new_id("m")
        msg["created_at"] = float(raw["created_at"]) if valid_time(raw.get("created_at")) else time.time()
        for key in ("model", "reasoning", "error", "error_type", "finish_reason"):
            if key in msg and not isinstance(msg[key], str):
                raise ImportError_(f"{where}: {key} is not text")
        if role == "assistant":
            if msg.get("status") not in STATUSES:
                if "status" in msg:
                    raise ImportError_(f"{where}: status {msg['status']!r} is not one of {', '.join(STATUSES)}")
                msg["status"] = "complete"
        else:
            for key in ("status", "error_type", "error", "retryable", "http_status", "reasoning"):
                msg.pop(key, None)
        if role == "user" and isinstance(raw.get("attachments"), list):
            refs = [r for r in raw["attachments"] if isinstance(r, dict)]
            if refs:
                msg["attachments"] = refs  # checked against the blobs by import_workspace
        usage = msg.get("usage")
        if usage is not None and not (isinstance(usage, dict) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in usage.values())):
            msg.pop("usage")
        messages.append(msg)
    return workspace, messages


def import_workspace(storage: Storage, data: Any, name: str | None, default_model: str) -> WorkspaceInfo:
    """Create a new workspace holding the messages of `data` (parsed JSON). Nothing is written
    when the data is unusable; a write that fails half-way moves the new workspace to trash."""
    workspace, messages = parse_import(data)
    model = workspace.get("model") if isinstance(workspace.get("model"), str) and workspace.get("model") else None
    if model is None:
        model = next((m["model"] for m in reversed(messages) if m["role"] == "assistant" and m.get("model")),
                     default_model)
    title = name or (workspace.get("name") if isinstance(workspace.get("name"), str) else None) or "imported"
    blobs = Blobs(storage.root)
    for msg in messages:
        if msg.get("attachments"):
            _keep_attachments(msg, blobs)
    info = storage.create_workspace(title, model)
    store = storage.store(info.id)
    try:
        for msg in messages:
            if msg["role"] == "assistant":
                msg.setdefault("model", model)
            store.append(msg)
    except BaseException:
        storage.delete_workspace(info.id)
        raise
    return storage.update_workspace(info.id, last_activity=time.time())


def _keep_attachments(msg: dict[str, Any], blobs: Blobs) -> None:
    """An imported message keeps the attachments whose files are in this data folder; one whose
    file is not (an export from another machine carries references, not bytes) is named in the
    text instead, so no request fails on it."""
    kept, missing = [], []
    for ref in msg.pop("attachments"):
        try:
            kept.append(check_ref(ref, blobs))
        except ValueError:
            missing.append(safe_name(ref.get("name")))
    if kept:
        msg["attachments"] = kept
    if missing:
        note = "[not imported, the file is not in this data folder: " + ", ".join(missing) + "]"
        msg["content"] = f"{msg['content']}\n\n{note}" if msg["content"] else note
