"""engine.features: what each provider was seen to support, folded from closed replies."""

from __future__ import annotations

import json

from muxtui.engine import events as ev
from muxtui.engine.features import FeatureRecorder, features_file, load_features

from tests.helpers.engine import closed


def close(model: str, status: str = "complete", **fields) -> ev.Event:
    kind = {"complete": ev.STREAM_COMPLETE, "interrupted": ev.STREAM_INTERRUPTED}.get(status, ev.STREAM_ERROR)
    return ev.Event.make(kind, "ws", request_id="r", message={"model": model, "status": status, "content": "x", **fields})


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_features_seen_and_not_seen(tmp_path):
    clock = Clock()
    rec = FeatureRecorder(tmp_path, clock=clock)
    rec(close("p:m", usage={"input_tokens": 3}))
    rec(close("p:m", reasoning="hmm", finish_reason="tool_calls"))
    rec(close("p:m", status="error", error_type="rate_limit"))  # not a streamed reply
    rec(close("p:m", status="error", error_type="max_output_tokens"))  # streamed, cut by the limit
    rec(close("q:m", status="interrupted"))  # the user stopped it: proves nothing
    rec.flush()
    data = load_features(tmp_path, "p")
    assert data["replies"] == 3
    assert set(data["seen"]) == {"streaming", "usage", "reasoning", "tool_calls"}
    assert data["last_error"]["type"] == "max_output_tokens"
    q = load_features(tmp_path, "q") or {}
    assert q.get("replies", 0) == 0 and not q.get("seen")


def test_writes_are_throttled_but_a_first_sighting_is_written_at_once(tmp_path):
    clock = Clock()
    rec = FeatureRecorder(tmp_path, clock=clock)
    rec(close("p:m"))  # first reply: written (streaming first seen)
    assert load_features(tmp_path, "p")["replies"] == 1
    rec(close("p:m"))  # nothing new, within a minute: not written
    assert load_features(tmp_path, "p")["replies"] == 1
    rec(close("p:m", reasoning="r"))  # reasoning first seen: written now
    assert load_features(tmp_path, "p")["replies"] == 3
    clock.now += 61
    rec(close("p:m"))
    assert load_features(tmp_path, "p")["replies"] == 4
    # A new recorder (a new process) goes on from the file.
    again = FeatureRecorder(tmp_path, clock=clock)
    again(close("p:m", usage={"output_tokens": 1}))
    assert load_features(tmp_path, "p")["replies"] == 5


def test_a_damaged_record_is_started_afresh(tmp_path):
    path = features_file(tmp_path, "p")
    path.parent.mkdir(parents=True)
    path.write_text("{broken")
    rec = FeatureRecorder(tmp_path)
    rec(close("p:m"))
    assert json.loads(path.read_text())["replies"] == 1


async def test_the_engine_records_what_a_reply_showed(make_manager, home):
    manager, events = make_manager()
    info = await manager.create_workspace("f", "fakeanth:claude?chunks=4&reasoning=2")
    await manager.send(info.id, "hi")
    await events.wait_for(closed(info.id))
    await manager.shutdown()
    recorder = next(x for x in manager._listeners if isinstance(x, FeatureRecorder))
    recorder.flush()  # the listener's own write runs in a thread; this one is synchronous
    data = load_features(home.data_dir / "cache", "fakeanth")
    assert data and {"streaming", "usage", "reasoning"} <= set(data["seen"]) and data["replies"] == 1
