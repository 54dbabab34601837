"""Configured credentials are cut out of replies before they are shown, saved or printed
(muxtui.engine.redact), however the stream splits them; base_url credentials are hidden."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from muxtui import config as config_mod
from muxtui.engine import events as ev
from muxtui.engine.redact import CUT_SECRET, REDACTED, StreamRedactor, configured_secrets, redact_url

from tests.helpers.engine import chat_lines, closed, gate
from tests.helpers.home import TEST_KEY

SECRETS = ["sk-abcabcXYZ-0123", "abcab-second-key", "sk-abc-third"]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.one_of(st.sampled_from(SECRETS + ["sk-", "abc", "s", "ab", "-0123"]),
                                 st.text(alphabet="abcsk-XYZ0123 \n", max_size=8)), max_size=14),
       cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_stream_redactor_equals_redacting_the_whole_text(pieces, cuts):
    text = "".join(pieces)
    chunks, last = [], 0
    for cut in sorted(c for c in cuts if c <= len(text)):
        chunks.append(text[last:cut])
        last = cut
    chunks.append(text[last:])
    redactor = StreamRedactor(SECRETS)
    shown = ""
    for chunk in chunks:
        shown += redactor.feed(chunk)
        assert len(redactor.pending) < max(map(len, SECRETS))
        for secret in SECRETS:
            assert secret not in shown
    held = redactor.pending
    expected = text
    for secret in sorted(SECRETS, key=len, reverse=True):
        expected = expected.replace(secret, REDACTED)
    assert shown + held == expected
    # At the end, a held tail is text, unless it is a long start of a key (a cut-off stream).
    assert redactor.flush() == (REDACTED if len(held) >= CUT_SECRET else held)


def test_ordinary_text_is_not_held_back():
    redactor = StreamRedactor([TEST_KEY])
    assert redactor.feed("nothing like a key here.") == "nothing like a key here."
    assert redactor.feed("ends with s") == "ends with " and redactor.pending == "s"
    assert redactor.feed("o on") == "so on" and redactor.pending == ""
    assert StreamRedactor([]).feed("sk-") == "sk-"


def test_configured_secrets_cover_keys_headers_and_url_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "env-key-0123456789")
    path = tmp_path / "config.toml"
    path.write_text(
        '[providers.a]\ntype = "openai"\nbase_url = "https://bob:url-pass-999@example.com/v1"\n'
        'api_key_env = "MY_KEY"\n'
        '[providers.b]\ntype = "openai"\nbase_url = "https://x.example"\napi_key = "inline-key-abcdef"\n'
        '[providers.b.headers]\napi-key = "azure-header-key-1"\nHTTP-Referer = "https://my.site.example"\n'
        'X-Title = "muxtui-app"\nX-Short = "abc"\n'
    )
    found = configured_secrets(config_mod.load(path))
    for secret in ("env-key-0123456789", "url-pass-999", "inline-key-abcdef", "azure-header-key-1"):
        assert secret in found
    # Public labels and short values would only mangle replies.
    for public in ("https://my.site.example", "muxtui-app", "abc", "bob"):
        assert public not in found


def test_redact_url():
    assert redact_url("http://user:pass@host:8080/v1") == "http://[redacted]@host:8080/v1"
    assert redact_url("https://token@api.example/v1") == "https://[redacted]@api.example/v1"
    assert redact_url("http://host/v1?to=a@b") == "http://host/v1?to=a@b"
    assert redact_url("http://u:p@host:99999") == "http://[redacted]@host:99999"
    assert redact_url("u:p@host") == "[redacted]@host"
    assert redact_url(None) == ""


async def test_key_echoed_in_a_reply_is_redacted_in_events_memory_and_disk(make_manager, fake_server):
    manager, rec = make_manager()
    info = await manager.create_workspace("echo", "fake:m?text=Hello.&echo_key=1&reasoning=2")
    await manager.send(info.id, "hi")
    done = await rec.wait_for(closed(info.id))
    assert done.type == ev.STREAM_COMPLETE
    sent = fake_server.sent_text(len(fake_server.requests) - 1)
    assert TEST_KEY in sent  # the server did echo it, in 5-character pieces
    shown = "".join(e.data.get("text", "") for e in rec.of(ev.STREAM_DELTA))
    assert shown == "Hello.\n\nYour key is [redacted] (echoed)."
    assert done.data["message"]["content"] == shown
    ws = manager.workspace(info.id)
    assert ws.messages[-1]["content"] == shown
    assert TEST_KEY not in ws.store.chat.read_text() and "[redacted]" in ws.store.chat.read_text()
    assert TEST_KEY not in json.dumps([e.data for e in rec.events])


async def test_a_stream_cut_inside_the_key_never_saves_its_beginning(make_manager, fake_server):
    manager, rec = make_manager()
    g = gate()
    # "Hell" + "o." then "\n\nYou", "r key", " is s", "k-tes", "t-mux": the pause falls inside the key.
    info = await manager.create_workspace("cut", f"fake:m?text=Hello.&echo_key=1&pause_after=7&gate={g}")
    await manager.send(info.id, "hi")
    await fake_server.areached(g)
    ws = manager.workspace(info.id)
    run = manager.current_run(info.id)
    for _ in range(500):  # until the writer has caught up with all 7 chunks
        p = ws.store.read_partial()
        if p and run.text_filter.pending and p["content"] == run.text:
            break
        await asyncio.sleep(0.02)  # polling the disk, not synchronising with the stream
    assert run.text_filter.pending == "sk-test-mux"
    partial = json.loads(ws.store.partial.read_text())["content"]
    assert partial.endswith("Your key is ") and "sk-" not in partial  # the key's start is held back
    await manager.interrupt(info.id)
    done = await rec.wait_for(closed(info.id))
    fake_server.release(g)
    assert done.type == ev.STREAM_INTERRUPTED
    last = chat_lines(ws)[-1]
    assert last["content"] == "Hello.\n\nYour key is [redacted]", last
    assert "sk-tes" not in json.dumps([e.data for e in rec.events])
