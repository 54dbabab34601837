"""The one place muxtui.host takes the engine's client API from (muxtui.client), plus what the
host needs of it that the API does not say itself: which events open and close a stream (the
idle exit counts streams), which deltas may merge, and an engine-wide snapshot."""

from __future__ import annotations

import dataclasses
from typing import Any

from muxtui.client import COMMANDS, Command, Engine, Event, atomic
from muxtui.client import events as ev

STREAM_OPENED = frozenset({ev.STREAM_STARTED})
STREAM_CLOSED = ev.STREAM_CLOSED
# Deltas the host may merge (same workspace, same other fields; these string fields concatenate).
DELTA_TYPE = ev.STREAM_DELTA
DELTA_TEXT_ORDER = ("text", "reasoning", "refusal")  # in the event's field order
DELTA_TEXT_FIELDS = frozenset(DELTA_TEXT_ORDER)
# The event class the hub keeps as an event (server.Item.of_delta), when its fields are the ones the
# host knows how to merge; another shape (a newer engine's) goes the general way, as a dict.
StreamDelta = ev.StreamDelta if {f.name for f in dataclasses.fields(ev.StreamDelta)} == {
    "workspace", "seq", "request_id", "tool_calls", *DELTA_TEXT_ORDER} else None


async def snapshot(engine: Any, workspace: str | None = None) -> dict[str, Any]:
    """Every workspace (or one) as the engine knows it, stamped with one ``seq``:
    ``{"seq": S, "workspaces": [WorkspaceSnapshot.to_dict(), ...]}``."""
    if hasattr(engine, "snapshot"):
        return await engine.snapshot(workspace=workspace)
    # Until the client API has an engine-wide snapshot: load (and recover) every workspace
    # first, then read them all in one synchronous step, so that one seq is true of all.
    ids = [i.id for i in await engine.list_workspaces() if workspace in (None, i.id)]
    for ws_id in ids:
        try:
            await engine.open_workspace(workspace=ws_id, sync=False)
        except KeyError:
            continue  # deleted meanwhile
    out = []
    for ws_id in ids:
        try:
            out.append(engine._snapshot(ws_id).to_dict())
        except KeyError:
            continue
    return {"seq": engine.last_seq, "workspaces": out}


__all__ = ["COMMANDS", "Command", "Engine", "Event", "atomic", "STREAM_OPENED", "STREAM_CLOSED", "DELTA_TYPE",
           "DELTA_TEXT_FIELDS", "DELTA_TEXT_ORDER", "StreamDelta", "snapshot"]
