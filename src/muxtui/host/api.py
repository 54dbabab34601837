"""The one place muxtui.host takes the engine's client API from.

Today it is the stand-in adapter; once ``muxtui.client`` exists (issue 11) these lines become
``from muxtui.client import COMMANDS, Command, Engine`` and ``from muxtui.engine.events import
Event``, and muxtui.host.adapter goes.
"""

from __future__ import annotations

from muxtui.host.adapter import COMMANDS, Command, Engine, Event

# Event types that open and close a stream: the host counts running streams from them (idle exit).
STREAM_OPENED = frozenset({"stream.started"})
STREAM_CLOSED = frozenset({"stream.complete", "stream.interrupted", "stream.error"})
# Deltas the host may merge (same workspace, same other fields; these string fields concatenate).
DELTA_TYPE = "stream.delta"
DELTA_TEXT_FIELDS = frozenset({"text", "reasoning", "refusal"})

__all__ = ["COMMANDS", "Command", "Engine", "Event", "STREAM_OPENED", "STREAM_CLOSED", "DELTA_TYPE",
           "DELTA_TEXT_FIELDS"]
