"""Shapes the providers read: <think> tags split anywhere, usage spellings, the end of a body."""

from __future__ import annotations

import itertools

import pytest

from muxtui.engine.providers.base import ReasoningDelta, TextDelta
from muxtui.engine.providers.shapes import ThinkSplitter, openai_usage
from muxtui.engine.providers.sse import SSEDecoder


def split_run(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    out = [e for p in pieces for e in splitter.feed(p)] + splitter.flush()
    text = "".join(e.text for e in out if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in out if isinstance(e, ReasoningDelta))
    return text, reasoning


REPLY = "\n<think>\nCount the r's: three.\n</think>\n\nThere are 3."


def test_a_think_block_split_at_every_pair_of_places_goes_to_reasoning():
    for i, j in itertools.combinations(range(1, len(REPLY)), 2):
        text, reasoning = split_run([REPLY[:i], REPLY[i:j], REPLY[j:]])
        assert text == "There are 3.", (i, j, text)
        assert reasoning == "\nCount the r's: three.\n", (i, j, reasoning)


def test_one_character_at_a_time():
    assert split_run(list(REPLY)) == ("There are 3.", "\nCount the r's: three.\n")


@pytest.mark.parametrize(
    "pieces, text, reasoning",
    [
        (["The tag <think> in the middle is shown."], "The tag <think> in the middle is shown.", ""),
        (["<thin", "king about tags"], "<thinking about tags", ""),
        (["<think>never closed"], "", "never closed"),
        (["<th"], "<th", ""),
        (["  ", "plain"], "  plain", ""),
        (["<think></think>", "answer"], "answer", ""),
    ],
)
def test_only_a_leading_think_block_is_reasoning(pieces, text, reasoning):
    assert split_run(pieces) == (text, reasoning)


def test_usage_spellings():
    u = openai_usage({"prompt_tokens": 339, "completion_tokens": 83, "prompt_cache_hit_tokens": 320,
                      "completion_tokens_details": {"reasoning_tokens": 39}})
    assert (u.input_tokens, u.output_tokens, u.cached_tokens, u.reasoning_tokens) == (339, 83, 320, 39)
    assert openai_usage(None) is None and openai_usage({"queue_time": 0.1}) is None


def test_pending_gives_the_last_event_when_the_body_ends_without_its_blank_line():
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b'data: {"a":1}\n\ndata: {"type":"message_stop"}')] == ['{"a":1}']
    last = decoder.pending()
    assert last is not None and last.data == '{"type":"message_stop"}'
    empty = SSEDecoder()
    empty.feed(b"data: x\n\n")
    assert empty.pending() is None


def test_old_records_load_and_bad_typed_fields_are_dropped(tmp_path):
    import json

    from muxtui.engine.storage import Storage

    storage = Storage(tmp_path)
    info = storage.create_workspace("w", "fake:x")
    store = storage.store(info.id)
    store.append({"id": "m1", "role": "assistant", "content": "old", "status": "complete", "created_at": 1.0})
    with store.chat.open("a") as f:  # a hand-edited line with the wrong types
        f.write(json.dumps({"v": 1, "kind": "message", "seq": 99, "id": "m2", "role": "assistant", "content": "",
                            "status": "error", "refusal": 5, "tool_calls": "x", "citations": [1, {"url": "u"}]}) + "\n")
    old, bad = store.load_history().messages
    assert old["content"] == "old" and "tool_calls" not in old
    assert bad["refusal"] == "5" and bad["tool_calls"] == [] and bad["citations"] == [{"url": "u"}]
