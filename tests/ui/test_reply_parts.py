"""Tool calls, refusals and sources in the chat pane, from replies replayed by the fake server.

The replies come from recorded provider streams (tests/fixtures/streams), through the app's real
HTTP path; the chat pane renders them from the saved message's typed fields.
"""

from __future__ import annotations

from muxtui.ui.messages import AssistantMessage
from tests.helpers.app import make_app, screen_text, send, settle, start, use_model, ws_messages
from tests.ui.test_snapshots import seed, select_last


async def reply_after(app, pilot, model: str, text: str) -> AssistantMessage:
    await use_model(app, pilot, model)
    await send(pilot, app, text)
    await app.engine.manager.wait_idle(app.current_id)
    await settle(app, pilot)
    return list(app.query(AssistantMessage))[-1]


async def test_tool_calls_refusal_and_the_workspace_total_are_shown(paths):
    app = make_app(paths)
    async with app.run_test(size=(100, 40)) as pilot:
        await start(app, pilot)
        tools = await reply_after(app, pilot, "fake:replay:openai-parallel-tool-calls", "weather and stock?")
        saved = ws_messages(app)[-1]
        assert saved["status"] == "complete" and [c["name"] for c in saved["tool_calls"]] == [
            "GetWeatherArgs", "get_stock_price"]
        shown = str(tools.parts.render())
        assert tools.parts.display
        assert "⚙ tool call GetWeatherArgs" in shown and '"city": "Edinburgh"' in shown
        assert "⚙ tool call get_stock_price" in shown and '"ticker": "AAPL"' in shown

        refused = await reply_after(app, pilot, "fake:replay:openai-refusal", "something bad")
        saved = ws_messages(app)[-1]
        assert saved["error_type"] == "model_refusal"
        assert "⊘ refused: I'm sorry, I can't assist with that request." in str(refused.parts.render())
        screen = screen_text(app)
        assert "⊘ refused: I'm sorry, I can't assist with that request." in screen
        assert "✗ model_refusal" in screen
        # 149+60 tokens for the tool calls, 79+11 for the refusal
        assert "299 tokens total" in app.sub_title


async def test_a_paused_turn_says_so_and_a_plain_reply_has_no_parts_block(paths):
    ws_id = seed(paths, "paused", "fake:plain", [
        {"role": "user", "content": "what changed in the release?"},
        {"role": "assistant", "content": "Let me search for that.", "model": "fakeanth:x", "status": "interrupted",
         "finish_reason": "pause_turn", "usage": {"input_tokens": 2037, "output_tokens": 41},
         "tool_calls": [{"id": "srvtoolu_1", "name": "web_search", "arguments": '{"query": "muxtui release"}',
                         "server": True, "result": "Release notes <https://example.org/r>"}],
         "citations": [{"url": "https://example.org/r", "title": "Release notes"}]},
    ])
    select_last(paths, ws_id)
    app = make_app(paths)
    async with app.run_test(size=(100, 40)) as pilot:
        await start(app, pilot)
        await settle(app, pilot)
        screen = screen_text(app)
        assert "⏸ the provider paused this turn before it finished" in screen
        assert "⚙ tool call web_search (run by the provider)" in screen
        assert "→ Release notes <https://example.org/r>" in screen
        assert "1. Release notes <https://example.org/r>" in screen
        assert "tokens total" not in app.sub_title  # one reply: its own usage line is the total
        plain = await reply_after(app, pilot, "fake:replay:mistral-text", "hi")
        assert not plain.parts.display
        assert "2,099 tokens total" in app.sub_title  # 2,037 + 41 seeded, 13 + 8 replayed
