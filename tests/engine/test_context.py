"""Context meter and compaction (issue 16, section 2), against real HTTP to the local fake server:
windows from the server's model list, the table and the config; tokens used; `/compact` that
succeeds (the next request sends the summary, not the originals), one that fails (nothing
written), compact-and-retry, and opt-in automatic compaction."""

from __future__ import annotations

import json
import uuid

import pytest

from muxtui import config as config_mod
from muxtui.client import COMMANDS, Engine
from muxtui.config import ConfigError
from muxtui.engine import context
from muxtui.engine import events as ev
from muxtui.engine.catalog import ModelCatalog, stated_windows
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.storage import Storage



def uniq() -> str:
    return uuid.uuid4().hex[:8]


def sent_messages(fake_server, model_name: str) -> list[dict]:
    """The messages of the latest request for ``model_name`` (as the provider named it)."""
    return fake_server.requests[fake_server.request_index(model_name)]["json"]["messages"]


async def chat(manager, rec, ws_id: str, texts: list[str]) -> None:
    for text in texts:
        assert await manager.send(ws_id, text) == "started"
        await manager.wait_idle(ws_id)


# ---- pure parts ------------------------------------------------------------------------------


def test_window_sources_in_order():
    assert context.window_for("openai:gpt-4o") == (128_000, "table")
    assert context.window_for("openai:gpt-4o-mini") == (128_000, "table")
    assert context.window_for("openai:gpt-4.1-mini") == (1_047_576, "table")
    assert context.window_for("or:anthropic/claude-3.7-sonnet") == (200_000, "table")
    assert context.window_for("ollama:llama3:8b") == (8_192, "table")
    assert context.window_for("ollama:llama3.1:70b") == (128_000, "table")
    assert context.window_for("local:mystery") == (None, "unknown")
    assert context.window_for("local:mystery", default=32_000) == (32_000, "default")
    assert context.window_for("local:mystery", server={"mystery": 64_000}, default=32_000) == (64_000, "server")
    # The user's own number wins over everything, by full name or by model name.
    assert context.window_for("openai:gpt-4o", configured={"openai:gpt-4o": 50_000}) == (50_000, "config")
    assert context.window_for("openai:gpt-4o", configured={"gpt-4o": 60_000}) == (60_000, "config")


def test_stated_windows_of_model_lists():
    data = {"data": [{"id": "a", "context_length": 4096}, {"id": "b", "max_model_len": 8192},
                     {"id": "c", "top_provider": {"context_length": 1000}}, {"id": "d"},
                     {"id": "e", "context_length": "big"}, {"id": "f", "max_input_tokens": 200_000}]}
    assert stated_windows(data) == {"a": 4096, "b": 8192, "c": 1000, "f": 200_000}
    assert stated_windows({"models": [{"name": "x", "context_window": 10}]}) == {"x": 10}
    assert stated_windows("nonsense") == {}


def msg(seq: int, role: str, content: str, **extra) -> dict:
    return {"seq": seq, "role": role, "content": content, **extra}


def test_used_tokens_from_last_usage_plus_estimate():
    history = [msg(1, "user", "x" * 400), msg(2, "assistant", "y" * 400, usage={"input_tokens": 100, "output_tokens": 100})]
    assert context.context_used(history) == (200, False)
    history.append(msg(3, "user", "z" * 40))  # 10 tokens + the per-message overhead, estimated
    assert context.context_used(history) == (200 + 10 + context.PER_MESSAGE, True)
    # No usage at all: everything is estimated.
    assert context.context_used([msg(1, "user", "x" * 40)]) == (10 + context.PER_MESSAGE, True)
    assert context.context_used([]) == (0, False)


def test_request_messages_put_the_summary_in_place_of_its_range():
    history = [msg(1, "user", "a"), msg(2, "assistant", "b"), msg(3, "user", "c"), msg(4, "assistant", "d"),
               msg(5, "system", "S1", summary=True, summarizes=[1, 2])]
    assert [m["content"] for m in context.request_messages(history)] == ["S1", "c", "d"]
    # A second compaction covers the first summary's range too; the older summary is left out.
    history += [msg(6, "user", "e"), msg(7, "system", "S2", summary=True, summarizes=[1, 4])]
    assert [m["content"] for m in context.request_messages(history)] == ["S2", "e"]
    # A damaged summary (its range is not two ascending ints) is not used.
    bad = [msg(1, "user", "a"), msg(2, "system", "S", summary=True, summarizes=[2, 1])]
    assert [m["content"] for m in context.request_messages(bad)] == ["a"]


def test_compact_range_keeps_the_last_turns():
    history = [msg(1, "user", "a"), msg(2, "assistant", "b"), msg(3, "user", "c"), msg(4, "assistant", "d"),
               msg(5, "user", "e"), msg(6, "assistant", "f")]
    older, span = context.compact_range(history, 2)
    assert [m["content"] for m in older] == ["a", "b"] and span == (1, 2)
    assert context.compact_range(history, 3) is None  # nothing older than three turns
    older, span = context.compact_range(history, 0)
    assert span == (1, 6)
    # After a first summary, a new one starts where the first one did.
    history.append(msg(7, "system", "S", summary=True, summarizes=[1, 2]))
    history += [msg(8, "user", "g"), msg(9, "assistant", "h")]
    older, span = context.compact_range(history, 2)
    assert [m["content"] for m in older] == ["S", "c", "d"] and span == (1, 4)


def test_meter_text_levels():
    assert context.meter_text(12_800, 128_000) == ("ctx 13k/128k (10%)", "ok")
    assert context.meter_text(108_800, 128_000)[1] == "warning"
    assert context.meter_text(128_000, 128_000) == ("ctx 128k/128k (100%)", "error")
    assert context.meter_text(1_500, None) == ("ctx 1.5k", "ok")


def test_context_config(home):
    path = home.config_file
    base = path.read_text()
    path.write_text(base + '\n[context]\nwindow = 32000\nauto_compact = true\nkeep_turns = 1\n'
                    'compact_model = "fake:cheap"\n[context.windows]\n"fake:plain" = 4096\n')
    cfg = config_mod.load(path)
    assert (cfg.context.window, cfg.context.auto_compact, cfg.context.keep_turns) == (32000, True, 1)
    assert cfg.context.compact_model == "fake:cheap" and cfg.context.windows == {"fake:plain": 4096}
    for bad, key in (("window = 0", "context.window"), ("auto_compact = 1", "context.auto_compact"),
                     ("colour = 1", "context.colour")):
        path.write_text(base + f"\n[context]\n{bad}\n")
        with pytest.raises(ConfigError) as info:
            config_mod.load(path)
        assert info.value.key == key


# ---- the window from the server's model list ---------------------------------------------------


async def test_window_from_the_servers_model_list(home, fake_server):
    path = home.config_file
    path.write_text(path.read_text().replace(
        "[providers.nokey]",
        f'[providers.listed]\ntype = "openai"\nbase_url = "{fake_server.base_url}/x/models=roomy&models_context=65536/v1"\n'
        'api_key_env = "MUXTUI_TEST_KEY"\n\n[providers.nokey]'))
    cfg = config_mod.load(path)
    catalog = ModelCatalog(cfg, home.data_dir / "cache")
    sm = await catalog.fetch("listed")
    assert sm.windows == {"roomy": 65536}
    assert catalog.cached("listed").windows == {"roomy": 65536}  # kept in the cache file
    engine = Engine(home, cfg, search=False)
    try:
        info = await engine.create_workspace("w", "listed:roomy")
        assert (await engine.context(info.id))["window"] == 65536
        assert (await engine.context(info.id))["source"] == "server"
        plain = await engine.create_workspace("p", "fake:gpt-4o")
        got = await engine.context(plain.id)
        assert (got["window"], got["source"], got["used"]) == (128_000, "table", 0)
    finally:
        await engine.close()


def test_old_model_cache_without_windows_still_loads():
    from muxtui.engine.catalog import ServerModels

    old = {"format": 1, "provider": "p", "models": ["a"], "fetched_at": 1.0, "checked_at": 1.0,
           "supported": True, "error": None}
    sm = ServerModels.from_dict(old, "p")
    assert sm is not None and sm.models == ("a",) and sm.windows == {}


# ---- compaction over real HTTP -----------------------------------------------------------------


def compacting(make_manager, compact_model: str | None, keep_turns: int = 1):
    manager, rec = make_manager()
    manager.config.context.compact_model = compact_model
    manager.config.context.keep_turns = keep_turns
    return manager, rec


async def test_compact_writes_a_summary_and_the_next_request_sends_it(make_manager, fake_server):
    tag = uniq()
    manager, rec = compacting(make_manager, f"fake:sum{tag}?text=SUMMARY-{tag}")
    info = await manager.create_workspace("long", f"fake:w{tag}?text=reply")
    await chat(manager, rec, info.id, [f"first-{tag}", f"second-{tag}", f"third-{tag}"])
    ws = manager.workspace(info.id)
    before = [dict(m) for m in ws.messages]

    summary = await manager.compact(info.id)

    # The summary call got the older turns and the instruction, not the kept turn.
    asked = sent_messages(fake_server, f"sum{tag}?text=SUMMARY-{tag}")
    asked_text = json.dumps(asked)
    assert f"first-{tag}" in asked_text and f"second-{tag}" in asked_text and f"third-{tag}" not in asked_text
    assert asked[-1]["content"] == context.SUMMARY_INSTRUCTION
    # The record: marked, its range, the originals untouched, all of it on disk.
    assert summary["summary"] is True and summary["role"] == "system"
    assert summary["content"] == f"SUMMARY-{tag}"
    assert summary["summarizes"] == [before[0]["seq"], before[3]["seq"]]
    assert ws.messages[:-1] == before
    on_disk = Storage(manager.storage.root).store(info.id).load_history().messages
    assert [m.get("content") for m in on_disk] == [m.get("content") for m in ws.messages]
    assert any(e.type == ev.MESSAGE_ADDED and e.data["message"]["id"] == summary["id"] for e in rec.events)

    # The next request sends the summary in place of the first two turns.
    await chat(manager, rec, info.id, [f"fourth-{tag}"])
    sent = sent_messages(fake_server, f"w{tag}?text=reply")
    text = json.dumps(sent)
    assert f"SUMMARY-{tag}" in text
    assert f"first-{tag}" not in text and f"second-{tag}" not in text
    assert f"third-{tag}" in text and f"fourth-{tag}" in text
    assert sent[0]["role"] == "user" and sent[0]["content"].startswith(context.SUMMARY_PREFIX)
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]


async def test_failed_summary_leaves_the_conversation_exactly_as_it_was(make_manager, fake_server):
    tag = uniq()
    manager, rec = compacting(make_manager, f"fake:sum{tag}?status=500")
    info = await manager.create_workspace("long", f"fake:w{tag}?text=reply")
    await chat(manager, rec, info.id, ["one", "two"])
    ws = manager.workspace(info.id)
    before_file = ws.store.chat.read_bytes()
    before = [dict(m) for m in ws.messages]
    events_before = len(rec.events)

    with pytest.raises(StreamError) as info_exc:
        await manager.compact(info.id)

    assert info_exc.value.error_type == ErrorType.SERVER_ERROR
    assert ws.store.chat.read_bytes() == before_file
    assert ws.messages == before
    assert rec.events[events_before:] == []
    # The next request is the whole conversation, as before.
    await chat(manager, rec, info.id, ["three"])
    assert [m["content"] for m in sent_messages(fake_server, f"w{tag}?text=reply")][:2] == ["one", "reply"]


async def test_nothing_to_compact_says_so(make_manager):
    manager, rec = compacting(make_manager, None, keep_turns=2)
    info = await manager.create_workspace("short", f"fake:w{uniq()}?text=reply")
    await chat(manager, rec, info.id, ["only"])
    with pytest.raises(ValueError, match="nothing to compact"):
        await manager.compact(info.id)


def engine_for(home, **context_cfg) -> Engine:
    cfg = config_mod.load(home.config_file)
    for key, value in context_cfg.items():
        setattr(cfg.context, key, value)
    return Engine(home, cfg, search=False)


async def test_engine_compact_failure_is_a_clear_refusal(home):
    engine = engine_for(home, compact_model=f"fake:s{uniq()}?status=500", keep_turns=0)
    try:
        info = await engine.create_workspace("w", f"fake:w{uniq()}?text=ok")
        await engine.send(info.id, "hello")
        await engine.wait_idle(info.id)
        with pytest.raises(ValueError, match=r"could not compact \(server_error\)"):
            await engine.compact(info.id)
        assert not any(m.get("summary") for m in await engine.history(info.id))
    finally:
        await engine.close()


async def test_compact_and_retry_after_context_exceeded(home, fake_server):
    tag = uniq()
    engine = engine_for(home, compact_model=f"fake:s{tag}?text=SHORT-{tag}", keep_turns=1)
    try:
        # The first request for this model fails with the provider's context-length error.
        info = await engine.create_workspace("w", f"fake:w{tag}?text=ok&status=400&context=1&fail_first=2")
        await engine.send(info.id, f"early-{tag}")
        await engine.wait_idle(info.id)
        assert (await engine.history(info.id))[-1]["error_type"] == "context_exceeded"
        await engine.send(info.id, f"late-{tag}")
        await engine.wait_idle(info.id)
        assert (await engine.history(info.id))[-1]["error_type"] == "context_exceeded"
        await engine.compact(info.id, retry=True)
        await engine.wait_idle(info.id)
        history = await engine.history(info.id)
        assert history[-1]["status"] == "complete"
        sent = json.dumps(sent_messages(fake_server, f"w{tag}?text=ok&status=400&context=1&fail_first=2"))
        assert f"SHORT-{tag}" in sent and f"early-{tag}" not in sent and f"late-{tag}" in sent
    finally:
        await engine.close()


async def test_auto_compact_before_a_send_that_would_overflow(home, fake_server):
    tag = uniq()
    engine = engine_for(home, compact_model=f"fake:s{tag}?text=AUTO-{tag}", keep_turns=1, auto_compact=True,
                        windows={f"fake:w{tag}?text=ok": 60})
    try:
        info = await engine.create_workspace("w", f"fake:w{tag}?text=ok")
        for text in (f"one-{tag} " + "x" * 40, f"two-{tag} " + "y" * 40):
            await engine.send(info.id, text)
            await engine.wait_idle(info.id)
        assert not any(m.get("summary") for m in await engine.history(info.id))  # still fits
        assert (await engine.context(info.id, extra="z" * 200))["used"] > 60
        await engine.send(info.id, "z" * 200)
        await engine.wait_idle(info.id)
        history = await engine.history(info.id)
        assert sum(1 for m in history if m.get("summary")) == 1
        sent = json.dumps(sent_messages(fake_server, f"w{tag}?text=ok"))
        assert f"AUTO-{tag}" in sent and f"one-{tag}" not in sent
    finally:
        await engine.close()


async def test_auto_compact_is_off_by_default(home, fake_server):
    engine = engine_for(home, windows={"fake:tiny": 10})
    try:
        info = await engine.create_workspace("w", "fake:tiny")
        for text in ("a" * 100, "b" * 100):
            await engine.send(info.id, text)
            await engine.wait_idle(info.id)
        assert not any(m.get("summary") for m in await engine.history(info.id))
    finally:
        await engine.close()


def test_commands_cross_json():
    assert {"compact", "context"} <= set(COMMANDS)
    assert COMMANDS["context"].decode(COMMANDS["context"].encode({"used": 1, "window": None})) == {"used": 1, "window": None}


async def test_retry_after_compact_keeps_the_summary(make_manager, fake_server):
    tag = uniq()
    manager, rec = compacting(make_manager, f"fake:sum{tag}?text=KEPT-{tag}")
    info = await manager.create_workspace("long", f"fake:w{tag}?text=reply")
    await chat(manager, rec, info.id, [f"first-{tag}", f"second-{tag}"])
    summary = await manager.compact(info.id)
    await manager.retry(info.id)  # ctrl+r on the last reply: its turn is cut and sent again
    await manager.wait_idle(info.id)
    ws = manager.workspace(info.id)
    kept = [m for m in ws.messages if m.get("summary")]
    assert len(kept) == 1 and kept[0]["content"] == f"KEPT-{tag}" and kept[0]["summarizes"] == summary["summarizes"]
    sent = json.dumps(sent_messages(fake_server, f"w{tag}?text=reply"))
    assert f"KEPT-{tag}" in sent and f"first-{tag}" not in sent and f"second-{tag}" in sent
    # The same after a restart: the file says so too.
    reread = Storage(manager.storage.root).store(info.id).load_history().messages
    assert [m["id"] for m in reread] == [m["id"] for m in ws.messages]
