"""A Retry-After longer than `retry_after_max` ends the turn with `retry_at` instead of a silent
wait; a short one is still waited for (and the retry event says until when)."""

from __future__ import annotations

import time
import uuid

from muxtui.engine import events as ev

from tests.helpers.engine import closed


async def test_long_retry_after_ends_the_turn_with_retry_at(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=3)
    waits: list[float] = []

    async def no_sleep(delay: float) -> None:  # the old code waited here (2 x 60 s)
        waits.append(delay)

    manager.sleep = no_sleep
    model = f"m?status=429&retry_after=3600&seed={uuid.uuid4().int % 10**9}"
    info = await manager.create_workspace("w", f"fake:{model}")
    before = time.time()
    await manager.send(info.id, "x")
    event = await rec.wait_for(closed(info.id))
    assert event.type == ev.STREAM_ERROR
    assert waits == [] and not rec.of(ev.STREAM_RETRYING)
    message = event.data["message"]
    assert message["error_type"] == "rate_limit" and message["retry_after"] == 3600
    assert before + 3600 <= message["retry_at"] <= time.time() + 3600
    on_disk = manager.workspace(info.id).store.load_history().messages[-1]
    assert on_disk["retry_at"] == message["retry_at"]  # survives a restart: the app counts down from it
    assert sum(1 for r in fake_server.requests if (r["json"] or {}).get("model") == model) == 1


async def test_short_retry_after_is_waited_and_announced(make_manager, fake_server):
    manager, rec = make_manager(retry_attempts=2, retry_after_max=60.0)
    waits: list[float] = []

    async def no_sleep(delay: float) -> None:
        waits.append(delay)

    manager.sleep = no_sleep
    model = f"m?status=429&retry_after=7&fail_first=1&seed={uuid.uuid4().int % 10**9}"
    info = await manager.create_workspace("w", f"fake:{model}")
    await manager.send(info.id, "x")
    event = await rec.wait_for(closed(info.id))
    assert event.type == ev.STREAM_COMPLETE
    assert waits == [7.0]
    retrying = rec.of(ev.STREAM_RETRYING)[0].data
    assert retrying["delay"] == 7.0 and abs(retrying["retry_at"] - (time.time() + 7)) < 5
