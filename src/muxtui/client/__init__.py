"""The client API: the one door between the engine and everything above it (the app, the CLI,
the engine host's socket).

- **Commands**: the coroutines of ``Engine`` named in ``COMMANDS``. Each takes JSON-able keyword
  arguments and returns plain data; ``Command.encode``/``decode`` turn a result into JSON and
  back, so the same command works in this process and over a socket.
- **Events**: one stream of typed, ``seq``-numbered events (``muxtui.engine.events``), given to
  ``Engine.subscribe``. A client opens a workspace as a ``WorkspaceSnapshot`` (stamped with the
  ``seq`` it reflects) and then applies the events after that ``seq``.
- **Helpers**: pure functions the UI and the CLI share with the engine (error hints, countdowns,
  usage totals, settings, snippets, the atomic file writer for the client's own files).

``muxtui.ui`` and ``muxtui.cli`` import the engine only through this package (import-linter
contract in pyproject.toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from muxtui.client.attachments import Attachment, AttachmentError
from muxtui.client.local import Engine, running
from muxtui.client.records import LiveReply, WorkspaceInfo, WorkspaceSnapshot, info_from_dict
from muxtui.engine import atomic
from muxtui.engine.providers import registry as _registry  # noqa: F401 - config.load checks its types
from muxtui.engine import events
from muxtui.engine import settings
from muxtui.engine.errors import CONTINUABLE_ERRORS, HINTS, ErrorType, countdown, wait_text
from muxtui.engine.events import Event, EventError
from muxtui.engine.search import Hit, split_snippet
from muxtui.engine.storage import StorageError, WorkspaceBusy, clean_name
from muxtui.engine.transfer import ImportError_, export_markdown, when_text
from muxtui.engine.trash import KEEP_DAYS as TRASH_KEEP_DAYS
from muxtui.engine.usage import usage_total
from muxtui.engine.context import context_used, meter_text, request_messages

__all__ = [
    "Attachment", "AttachmentError", "COMMANDS", "CONTINUABLE_ERRORS", "Command", "Engine", "ErrorType", "Event", "EventError", "HINTS", "Hit",
    "ImportError_", "LiveReply", "TRASH_KEEP_DAYS", "StorageError", "WorkspaceBusy", "WorkspaceInfo", "WorkspaceSnapshot", "atomic",
    "clean_name", "context_used", "countdown", "meter_text", "request_messages", "events", "export_markdown", "info_from_dict", "running", "settings",
    "split_snippet", "usage_total", "wait_text", "when_text",
]


def _same(value: Any) -> Any:
    return value


def _hit_from_dict(d: dict[str, Any]) -> Hit:
    # The wire form has the snippet's text and highlight spans; put the markers back.
    from muxtui.engine.search import HL_END, HL_START

    text, out, pos = d["snippet"], [], 0
    for start, end in d.get("highlights") or ():
        out += [text[pos:start], HL_START, text[start:end], HL_END]
        pos = end
    out.append(text[pos:])
    return Hit(d["workspace"], d["workspace_name"], d["seq"], d["message_id"], d["role"], d["model"],
               d["created_at"], d["status"], "".join(out))


@dataclass(frozen=True, slots=True)
class Command:
    """One engine command: its name (the ``Engine`` method) and how its result crosses JSON."""

    name: str
    encode: Callable[[Any], Any] = _same
    decode: Callable[[Any], Any] = _same


def _info(name: str) -> Command:
    return Command(name, lambda i: i.to_dict(), info_from_dict)


def _infos(name: str) -> Command:
    return Command(name, lambda xs: [i.to_dict() for i in xs], lambda xs: [info_from_dict(d) for d in xs])


COMMANDS: dict[str, Command] = {c.name: c for c in (
    # workspaces
    _infos("list_workspaces"),
    _info("create_workspace"),
    _info("rename_workspace"),
    _info("set_model"),
    Command("delete_workspace"),
    _info("fork_workspace"),
    Command("open_workspace", lambda s: s.to_dict(), WorkspaceSnapshot.from_dict),
    Command("peek_workspace"),
    Command("history"),
    Command("get_settings"),
    Command("set_settings"),
    # streams
    Command("store_attachment"),
    Command("send"),
    Command("interrupt"),
    Command("retry"),
    Command("edit_and_resend"),
    Command("continue_reply"),
    Command("send_now"),
    Command("wait_idle"),
    Command("streaming"),
    Command("compact"),
    Command("context"),
    # queue
    Command("edit_queued"),
    Command("remove_queued"),
    Command("pop_last_queued"),
    # disk, trash, export, import
    Command("unsaved"),
    Command("pending_writes"),
    Command("has_partial"),
    Command("list_trash"),
    _info("restore_workspace"),
    Command("export_workspace"),
    _info("import_workspace"),
    # search, logs, models
    Command("search", lambda hits: [h.to_dict() for h in hits], lambda xs: [_hit_from_dict(d) for d in xs]),
    Command("catch_up_search"),
    Command("search_ready"),
    Command("refresh_search"),
    Command("storage_warnings"),
    Command("workspaces_stamp"),
    Command("warm"),
    Command("logs"),
    Command("purge_trash"),
    Command("error_groups"),
    Command("models"),
)}
