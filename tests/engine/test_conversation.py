"""Conversation control in the engine, over real HTTP to the fake server: per-workspace settings
in the request (both wire shapes), edit-and-resend keeping the old branch, fork, send-now and
continue."""

from __future__ import annotations

import uuid

import pytest

from muxtui import config as config_mod
from muxtui.engine import events as ev
from muxtui.engine.providers.openai import CONTINUE_INSTRUCTION

from tests.helpers.engine import chat_lines, closed, gate
from tests.helpers.home import write_config


def tag() -> str:
    """A unique model suffix, so this test finds its own requests in the shared server."""
    return str(uuid.uuid4().int % 10**9)


def request_json(fake_server, model: str) -> dict:
    return fake_server.requests[fake_server.request_index(model)]["json"]


# ---- 15. settings in the request ----------------------------------------------------------------

async def test_settings_reach_an_openai_request(make_manager, fake_server):
    manager, rec = make_manager()
    model = f"m?chunks=3&seed={tag()}"
    info = await manager.create_workspace("w", f"fake:{model}")
    await manager.set_settings(info.id, {"system_prompt": "You are terse.", "temperature": 0.3,
                                         "max_tokens": 321, "reasoning_effort": "high"})
    await manager.send(info.id, "hello")
    await rec.wait_for(closed(info.id))
    body = request_json(fake_server, model)
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["messages"][1] == {"role": "user", "content": "hello"}
    assert body["temperature"] == 0.3 and body["max_tokens"] == 321 and body["reasoning_effort"] == "high"
    assert "thinking" not in body
    # Saved with the workspace: a fresh manager (a restart) sends the same.
    manager2, rec2 = make_manager()
    await manager2.list_workspaces()
    await manager2.open_workspace(info.id)
    assert manager2.effective_settings(info.id)["temperature"] == 0.3


async def test_settings_reach_an_anthropic_request(make_manager, fake_server):
    manager, rec = make_manager()
    model = f"claude?chunks=3&seed={tag()}"
    info = await manager.create_workspace("w", f"fakeanth:{model}")
    await manager.set_settings(info.id, {"system_prompt": "Be brief.", "max_tokens": 2000, "thinking_budget": 4096})
    await manager.send(info.id, "hello")
    await rec.wait_for(closed(info.id))
    body = request_json(fake_server, model)
    assert body["system"] == "Be brief."
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] > 4096  # the budget must fit inside max_tokens
    assert "temperature" not in body  # not allowed together with thinking
    assert [m["role"] for m in body["messages"]] == ["user"]

    await manager.set_settings(info.id, {"temperature": 0.5, "max_tokens": 77})
    await manager.send(info.id, "again")
    await manager.wait_idle(info.id)
    assert [m.get("status") for m in manager.workspace(info.id).messages[1::2]] == ["complete", "complete"]
    body = request_json(fake_server, model)
    assert body["temperature"] == 0.5 and body["max_tokens"] == 77 and "thinking" not in body and "system" not in body


async def test_defaults_and_presets_from_config(home, fake_server, make_manager):
    write_config(home.config_dir, fake_server, extra="""
[defaults]
temperature = 0.9
system_prompt = "Default voice."

[presets.precise]
temperature = 0.1
max_tokens = 500
""")
    cfg = config_mod.load(home.config_file)
    assert cfg.defaults == {"temperature": 0.9, "system_prompt": "Default voice."}
    assert cfg.presets == {"precise": {"temperature": 0.1, "max_tokens": 500}}
    manager, rec = make_manager()
    model = f"m?chunks=2&seed={tag()}"
    info = await manager.create_workspace("w", f"fake:{model}")
    await manager.set_settings(info.id, {"max_tokens": 64})  # over the defaults, key by key
    await manager.send(info.id, "x")
    await rec.wait_for(closed(info.id))
    body = request_json(fake_server, model)
    assert body["temperature"] == 0.9 and body["max_tokens"] == 64
    assert body["messages"][0] == {"role": "system", "content": "Default voice."}


@pytest.mark.parametrize("table, message", [
    ("[defaults]\ntemperature = 7", "temperature"),
    ("[presets.x]\nreasoning_effort = \"huge\"", "reasoning_effort"),
    ("[defaults]\nnope = 1", "unknown setting"),
])
def test_bad_settings_in_config_name_the_key(home, fake_server, table, message):
    write_config(home.config_dir, fake_server, extra=table)
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.load(home.config_file)
    assert message in str(err.value) and "line" in str(err.value)


async def test_bad_settings_are_refused_and_nothing_is_written(make_manager):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m")
    with pytest.raises(ValueError, match="temperature"):
        await manager.set_settings(info.id, {"temperature": "hot"})
    assert not manager.workspace(info.id).store.settings_file.exists()


# ---- 16. edit and resend, fork --------------------------------------------------------------------

async def test_edit_and_resend_cuts_the_conversation_and_keeps_the_old_branch(make_manager, fake_server):
    manager, rec = make_manager()
    model = f"m?chunks=3&seed={tag()}"
    info = await manager.create_workspace("w", f"fake:{model}")
    for text in ("one", "two"):
        await manager.send(info.id, text)
        await manager.wait_idle(info.id)
    ws = manager.workspace(info.id)
    first = ws.messages[0]
    request_id = await manager.edit_and_resend(info.id, first["seq"], "one, edited")
    await rec.wait_for(closed(info.id, request_id))
    assert [m["content"] for m in ws.messages if m["role"] == "user"] == ["one, edited"]
    lines = chat_lines(ws)
    assert [l["content"] for l in lines if l.get("role") == "user"] == ["one", "two", "one, edited"]  # old kept
    assert any(l.get("kind") == "truncate" and l["from_seq"] == first["seq"] for l in lines)
    # The model saw only the edited branch.
    assert [m["content"] for m in request_json(fake_server, model)["messages"]] == ["one, edited"]


async def test_fork_copies_up_to_a_message(make_manager, fake_server):
    manager, rec = make_manager()
    info = await manager.create_workspace("origin", f"fake:m?chunks=3&seed={tag()}")
    await manager.set_settings(info.id, {"temperature": 0.2})
    for text in ("one", "two"):
        await manager.send(info.id, text)
        await manager.wait_idle(info.id)
    source = manager.workspace(info.id).messages
    fork = await manager.fork_workspace(info.id, source[1]["seq"])
    assert fork.name == "fork: origin" and fork.model == info.model
    assert rec.of(ev.WORKSPACE_CREATED)[-1].workspace == fork.id
    ws = await manager.open_workspace(fork.id)
    assert [(m["role"], m["content"]) for m in ws.messages] == [(m["role"], m["content"]) for m in source[:2]]
    assert ws.settings == {"temperature": 0.2}
    # The source is untouched and the fork lives its own life.
    assert len(manager.workspace(info.id).messages) == 4
    await manager.send(fork.id, "three")
    await manager.wait_idle(fork.id)
    assert len(ws.messages) == 4 and len(manager.workspace(info.id).messages) == 4
    with pytest.raises(ValueError):
        await manager.fork_workspace(info.id, 0)


# ---- 18. send now ---------------------------------------------------------------------------------

async def test_send_now_interrupts_and_sends_the_chosen_queued_message(make_manager, fake_server):
    manager, rec = make_manager()
    g = gate()
    model = f"m?chunks=40&pause_after=5&gate={g}&seed={tag()}"
    info = await manager.create_workspace("w", f"fake:{model}")
    await manager.send(info.id, "first")
    await fake_server.areached(g)
    old = manager.current_run(info.id).request_id
    assert await manager.send(info.id, "queued a") == "queued"
    assert await manager.send(info.id, "queued b") == "queued"
    ws = manager.workspace(info.id)
    b = ws.queue[1]["id"]
    await manager.set_model(info.id, f"fake:m?chunks=3&seed={tag()}")
    new = await manager.send_now(info.id, [b])
    fake_server.release(g)
    await rec.wait_for(closed(info.id, old))
    # The running reply is kept, as interrupted, with the text that had arrived.
    interrupted = next(m for m in ws.messages if m.get("request_id") == old)
    assert interrupted["status"] == "interrupted" and interrupted["content"]
    # b went out now; a waits for the end of that turn, then goes too.
    await rec.wait_for(closed(info.id, new))
    await manager.wait_idle(info.id)
    users = [m["content"] for m in ws.messages if m["role"] == "user"]
    assert users == ["first", "queued b", "queued a"]
    assert ws.queue == []
    with pytest.raises(KeyError):
        await manager.send_now(info.id, ["nosuch"])


# ---- 17. continue ---------------------------------------------------------------------------------

async def test_continue_an_interrupted_openai_reply(make_manager, fake_server):
    manager, rec = make_manager()
    g = gate()
    info = await manager.create_workspace("w", f"fake:m?text=Hello%20there%2C%20this%20is%20long&pause_after=3&gate={g}")
    await manager.send(info.id, "question")
    await fake_server.areached(g)
    run = manager.current_run(info.id)
    await rec.wait_for(lambda e: e.type == ev.STREAM_DELTA and run.text == "Hello there,")
    await manager.interrupt(info.id)
    fake_server.release(g)
    ws = manager.workspace(info.id)
    partial = ws.messages[-1]
    assert partial["status"] == "interrupted" and partial["content"] == "Hello there,"
    model = f"m?text=%20continued.&seed={tag()}"
    await manager.set_model(info.id, f"fake:{model}")
    request_id = await manager.continue_reply(info.id)
    await rec.wait_for(closed(info.id, request_id))
    body = request_json(fake_server, model)
    assert body["messages"][-2:] == [{"role": "assistant", "content": "Hello there,"},
                                     {"role": "user", "content": CONTINUE_INSTRUCTION}]
    # One joined reply; the interrupted one is kept in the file, out of the conversation.
    assert [m["role"] for m in ws.messages] == ["user", "assistant"]
    assert ws.messages[-1]["content"] == "Hello there, continued." and ws.messages[-1]["status"] == "complete"
    assert any(l.get("id") == partial["id"] for l in chat_lines(ws))
    assert [m["content"] for m in ws.store.load_history().messages] == ["question", "Hello there, continued."]


@pytest.mark.parametrize("finish, status", [("length", "error"), ("pause_turn", "interrupted")])
async def test_continue_an_anthropic_reply_with_prefill(make_manager, fake_server, finish, status):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", f"fakeanth:c?text=Part%20one%20&finish={finish}&seed={tag()}")
    await manager.send(info.id, "question")
    await manager.wait_idle(info.id)
    ws = manager.workspace(info.id)
    assert ws.messages[-1]["status"] == status and manager.continuable(ws.messages[-1])
    model = f"c?text=%20and%20two.&seed={tag()}"
    await manager.set_model(info.id, f"fakeanth:{model}")
    request_id = await manager.continue_reply(info.id)
    await rec.wait_for(closed(info.id, request_id))
    body = request_json(fake_server, model)
    # Prefill: the last turn is the assistant's text so far, without trailing whitespace.
    assert body["messages"] == [{"role": "user", "content": "question"},
                                {"role": "assistant", "content": "Part one"}]
    assert ws.messages[-1]["content"] == "Part one and two." and ws.messages[-1]["status"] == "complete"


async def test_continue_refuses_a_complete_reply(make_manager):
    manager, rec = make_manager()
    info = await manager.create_workspace("w", "fake:m?chunks=2")
    await manager.send(info.id, "q")
    await manager.wait_idle(info.id)
    with pytest.raises(ValueError, match="nothing to continue"):
        await manager.continue_reply(info.id)
    assert not manager.is_streaming(info.id)
