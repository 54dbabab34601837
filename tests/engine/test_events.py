"""Typed events: every event survives JSON (the engine host sends them over a socket), seq
numbers only grow, and malformed dicts are refused with a clear error."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
from hypothesis import given, settings, strategies as st

from muxtui.engine import events as ev

json_scalars = st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False,
                                                                                  allow_infinity=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _strategy(annotation: str):
    """A value for a field, from its annotation (the module uses postponed annotations)."""
    ann = annotation.replace(" ", "")
    if ann == "str":
        return st.text()
    if ann == "int":
        return st.integers(0, 2**53)
    if ann == "bool":
        return st.booleans()
    if ann == "float":
        return st.floats(allow_nan=False, allow_infinity=False)
    if ann == "float|None":
        return st.none() | st.floats(allow_nan=False, allow_infinity=False)
    if ann == "str|None":
        return st.none() | st.text()
    if ann.startswith("dict[str,Any]"):
        d = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
        return (st.none() | d) if ann.endswith("|None") else d
    if ann == "list[dict[str,Any]]":
        return st.lists(st.dictionaries(st.text(max_size=8), json_values, max_size=4), max_size=3)
    raise AssertionError(f"no strategy for {annotation!r}: add one")


def _events():
    out = []
    for cls in ev.event_types().values():
        fields = {f.name: _strategy(f.type) for f in dataclasses.fields(cls) if f.name not in ("workspace", "seq")}
        out.append(st.builds(cls, workspace=st.text(min_size=1), seq=st.integers(0, 2**53), **fields))
    return st.one_of(out)


@settings(max_examples=400, deadline=None)
@given(_events())
def test_every_event_survives_json(event):
    line = event.to_json()
    assert "\n" not in line  # one event per line on the socket
    back = ev.Event.from_json(line)
    assert back == event and type(back) is type(event)
    assert json.loads(line)["type"] == event.type and json.loads(line)["seq"] == event.seq


def test_every_type_is_registered_and_named():
    types = ev.event_types()
    for name in ("workspace.created", "stream.delta", "stream.complete", "stream.error", "queue.changed", "warning"):
        assert name in types
    assert ev.STREAM_CLOSED == {t for t, c in types.items() if issubclass(c, ev.StreamClosed)}


@pytest.mark.parametrize("bad, why", [
    ([], "JSON object"),
    ({"type": "nope", "workspace": "w"}, "unknown event type"),
    ({"type": "stream.delta", "workspace": "w", "seq": 1}, "request_id"),
    ({"type": "stream.delta", "workspace": "w", "seq": 1, "request_id": "r", "colour": "red"}, "unknown fields"),
    ({"type": "warning", "workspace": 5, "seq": 1, "text": "x"}, "workspace must be a string"),
])
def test_malformed_events_are_refused_clearly(bad, why):
    with pytest.raises(ev.EventError, match=why):
        ev.Event.from_dict(bad)
    with pytest.raises(ev.EventError, match="not JSON"):
        ev.Event.from_json("{oops")


def test_payload_leaves_defaults_out():
    delta = ev.StreamDelta(workspace="w", seq=3, request_id="r", text="hi")
    assert delta.to_dict() == {"type": "stream.delta", "seq": 3, "workspace": "w", "request_id": "r", "text": "hi"}
    assert ev.StreamComplete(workspace="w", request_id="r", message={}, persisted=False).data["persisted"] is False


async def test_seq_strictly_increases_across_workspaces(make_manager):
    manager, recorder = make_manager()
    ids = [(await manager.create_workspace(f"w{n}", "fake:plain?chunks=20&delay_ms=2")).id for n in range(3)]
    for ws_id in ids:
        await manager.send(ws_id, "hello")
    for ws_id in ids:
        await manager.wait_idle(ws_id)
    seqs = [e.seq for e in recorder.events]
    assert len(seqs) > 10 and seqs == sorted(set(seqs)) and seqs[0] >= 1
    assert manager.last_seq == seqs[-1]
