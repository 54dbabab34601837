"""Full-text search: the derived index (built, kept current, rebuilt), hostile queries, the CLI,
and export/import round trips. Replies come from the fake server over real HTTP."""

from __future__ import annotations

import json
import sqlite3

import pytest

from muxtui.engine.search import Indexer, SearchIndex, parse_query, split_snippet
from muxtui.engine.storage import Storage
from muxtui.engine.transfer import ImportError_, import_workspace, parse_import

from tests.helpers.cli import muxtui
from tests.helpers.engine import closed


def seed(data_dir, name, texts, model="fake:plain"):
    storage = Storage(data_dir)
    info = storage.create_workspace(name, model)
    store = storage.store(info.id)
    for n, text in enumerate(texts):
        role = "user" if n % 2 == 0 else "assistant"
        msg = {"id": f"{info.id}-{n}", "role": role, "content": text, "created_at": 1_700_000_000 + n}
        if role == "assistant":
            msg.update(model=model, status="complete")
        store.append(msg)
    return info.id


def words(hits):
    return [split_snippet(h.snippet)[0] for h in hits]


def test_index_is_built_and_finds_with_highlights_and_filters(home):
    a = seed(home.data_dir, "alpha project", ["how do I tune postgres", "use a bigger shared_buffers"])
    b = seed(home.data_dir, "beta", ["postgres vacuum question", "run vacuum analyze"], model="fake:other")
    index = SearchIndex(home.data_dir)
    assert index.sync_all() == 4
    assert index.rebuilt_reason == "missing"
    hits = index.search("postgres")
    assert {h.workspace_id for h in hits} == {a, b}
    text, spans = split_snippet(hits[0].snippet)
    assert [text[s:e].lower() for s, e in spans] == ["postgres"]
    assert [h.workspace_id for h in index.search("postgres ws:alpha")] == [a]
    assert [h.workspace_id for h in index.search('postgres ws:"alpha proj"')] == [a]
    assert [h.role for h in index.search("vacuum role:assistant")] == ["assistant"]
    assert [h.workspace_id for h in index.search("vacuum model:other")] == [b, b]
    assert index.search("vacuum model:plain") == []
    assert [h.seq for h in index.search("postg")] != []  # type-ahead prefix
    assert [h.workspace_id for h in index.search("postgres", workspace=b)] == [b]


@pytest.mark.parametrize("query", ['"', '"unbalanced', "AND", "a AND", "OR NOT", "-", "-x", "*", "a*", "(", ")",
                                   "NEAR(a b)", "col:x", "^", "postgres OR", '""""', "\x00", "ws:", "role:", ":"])
def test_hostile_queries_never_raise(home, query):
    seed(home.data_dir, "w", ["AND OR NOT postgres - * ( ) text", "reply"])
    index = SearchIndex(home.data_dir)
    index.sync_all()
    # Before the fix (raw input handed to MATCH) these raised sqlite3.OperationalError: fts5 syntax error.
    assert isinstance(index.search(query), list)
    q = parse_query(query)
    if q.words:
        with sqlite3.connect(index.path) as db:  # the expression itself is valid FTS5
            db.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (q.match_expression(),)).fetchone()


def test_words_that_are_fts_operators_are_found_as_words(home):
    ws = seed(home.data_dir, "w", ["salt AND pepper", "x"])
    index = SearchIndex(home.data_dir)
    index.sync_all()
    assert [h.workspace_id for h in index.search("AND pepper")] == [ws]


def test_truncated_branch_is_not_found(home):
    ws = seed(home.data_dir, "w", ["keep this", "reply one", "drop this banana", "reply two"])
    store = Storage(home.data_dir).store(ws)
    index = SearchIndex(home.data_dir)
    index.sync_all()
    assert index.search("banana")
    store.append_truncate(3)  # edit-and-resend from message 3
    store.append({"role": "user", "content": "instead a cherry", "created_at": 1_700_000_100})
    index.sync_all()
    assert index.search("banana") == []
    assert index.search("cherry") and index.search("keep")


def test_rebuilt_when_deleted_or_corrupted(home):
    seed(home.data_dir, "w", ["findable needle"])
    index = SearchIndex(home.data_dir)
    index.sync_all()
    index.close()
    index.path.unlink()
    for suffix in ("-wal", "-shm"):
        (home.data_dir / f"search.sqlite3{suffix}").unlink(missing_ok=True)
    again = SearchIndex(home.data_dir)
    again.sync_all()
    assert again.rebuilt_reason == "missing" and again.search("needle")
    again.close()
    for suffix in ("-wal", "-shm"):
        (home.data_dir / f"search.sqlite3{suffix}").unlink(missing_ok=True)
    again.path.write_bytes(b"this is not a database " * 500)
    assert again.search("needle") == []  # a reader never raises on a damaged file
    third = SearchIndex(home.data_dir)
    third.sync_all()
    assert third.rebuilt_reason.startswith("unusable")
    assert third.search("needle")


def test_stale_when_another_process_appends(home):
    ws = seed(home.data_dir, "w", ["first words"])
    index = SearchIndex(home.data_dir)
    index.sync_all()
    assert not index.is_stale()
    # Another process (its own Storage) appends to the same history.
    Storage(home.data_dir).store(ws).append({"role": "user", "content": "late arrival", "created_at": 1.0})
    assert index.is_stale()
    assert index.sync_all() == 1  # only the new line is read
    assert index.search("arrival") and index.search("first")
    assert index.count() == 1 + 1


def test_rewritten_history_is_indexed_again_from_the_start(home):
    ws = seed(home.data_dir, "w", ["original text here", "reply"])
    index = SearchIndex(home.data_dir)
    index.sync_all()
    chat = home.data_dir / "workspaces" / ws / "chat.jsonl"
    lines = chat.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["content"] = "replaced wording here, longer than before"
    chat.write_text("\n".join([json.dumps(rec)] + lines[1:]) + "\n")
    index.sync_all()
    assert index.search("original") == [] and index.search("replaced")


def test_deleted_workspace_leaves_the_index(home):
    storage = Storage(home.data_dir)
    ws = seed(home.data_dir, "w", ["gone soon"])
    index = SearchIndex(home.data_dir)
    index.sync_all()
    storage.delete_workspace(ws)
    index.sync_all()
    assert index.search("gone") == []


async def test_index_follows_a_committed_reply(home, make_manager, fake_server):
    manager, rec = make_manager()
    indexer = Indexer(home.data_dir)
    indexer.attach(manager)
    indexer.start()
    try:
        info = await manager.create_workspace("live", "fake:m?chunks=3&text=quokka%20sighting")
        await manager.open_workspace(info.id)
        await manager.send(info.id, "tell me about marsupials")
        await rec.wait_for(closed(info.id))
        import asyncio

        assert await asyncio.to_thread(indexer.wait_idle, 30)
        hits = indexer.index.search("quokka")
        assert [(h.workspace_id, h.role, h.status) for h in hits] == [(info.id, "assistant", "complete")]
        assert indexer.index.search("marsupials")[0].role == "user"
    finally:
        indexer.stop()


def test_cli_search_json(home):
    assert muxtui(home, "send", "-w", "zoo", "-m", "fake:m?chunks=3&text=the%20wombat%20digs", "q").returncode == 0
    out = muxtui(home, "search", "--json", "wombat")
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)
    assert len(hits) == 1 and hits[0]["workspace_name"] == "zoo" and hits[0]["role"] == "assistant"
    s, e = hits[0]["highlights"][0]
    assert hits[0]["snippet"][s:e] == "wombat"
    assert json.loads(muxtui(home, "search", "--json", '"AND', "-w", "zoo").stdout) == []
    assert muxtui(home, "search", "wombat", "-w", "nope").returncode == 2


def test_export_import_round_trip(home, tmp_path):
    assert muxtui(home, "send", "-w", "src", "-m", "fake:m?chunks=3&text=first%20answer", "one").returncode == 0
    assert muxtui(home, "send", "-w", "src", "-m", "fake:m?status=500&retries=0", "two").returncode in (0, 1)
    storage = Storage(home.data_dir)
    src = storage.resolve("src")
    store = storage.store(src.id)
    store.append({"role": "assistant", "content": "thought out", "reasoning": "because", "model": "fake:r",
                  "status": "interrupted", "created_at": 1_700_000_000.5})
    first = muxtui(home, "export", "-w", "src", "--format", "json")
    assert first.returncode == 0, first.stderr
    path = tmp_path / "src.json"
    path.write_text(first.stdout)
    out = muxtui(home, "import", str(path), "-w", "copy")
    assert out.returncode == 0, out.stderr
    second = json.loads(muxtui(home, "export", "-w", "copy", "--format", "json").stdout)
    keys = ("role", "content", "status", "reasoning", "error_type", "model", "created_at", "usage")
    before = [{k: m.get(k) for k in keys} for m in json.loads(first.stdout)["messages"]]
    after = [{k: m.get(k) for k in keys} for m in second["messages"]]
    assert after == before and len(before) == 5
    assert {m["status"] for m in before if m["role"] == "assistant"} >= {"complete", "interrupted"}
    assert second["workspace"]["name"] == "copy" and second["workspace"]["model"] == src.model


def test_import_openai_messages_array(home, tmp_path):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "what is"}, {"type": "text", "text": "this"},
                                     {"type": "image_url", "image_url": {"url": "data:..."}}]},
        {"role": "assistant", "content": "a cat"},
    ]))
    assert muxtui(home, "import", str(path), "-w", "oa").returncode == 0
    messages = json.loads(muxtui(home, "history", "-w", "oa", "--json").stdout)["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("system", "be brief"), ("user", "what is\n\nthis\n\n[image_url part not imported]"), ("assistant", "a cat")]
    assert messages[2]["status"] == "complete"


@pytest.mark.parametrize("data, error", [
    ({"nope": 1}, "expected a muxtui JSON export"),
    ([{"role": "tool", "content": "x"}], "role 'tool'"),
    ([{"role": "user", "content": 5}], "content is int"),
    ([{"role": "assistant", "content": "x", "status": "weird"}], "status 'weird'"),
])
def test_bad_import_is_refused_and_writes_nothing(home, data, error):
    storage = Storage(home.data_dir)
    with pytest.raises(ImportError_, match=error):
        import_workspace(storage, data, "x", "fake:plain")
    assert storage.list_workspaces() == []


def test_cli_import_of_a_non_json_file_is_a_clear_error(home, tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    out = muxtui(home, "import", str(path))
    assert out.returncode == 2 and "not JSON" in out.stderr and "nothing imported" in out.stderr
    assert parse_import([])[1] == []


def test_indexer_repairs_a_garbage_index_in_its_child_process(home):
    seed(home.data_dir, "w", ["repair me please"])
    (home.data_dir / "search.sqlite3").write_bytes(b"\x00garbage" * 1000)
    indexer = Indexer(home.data_dir)
    indexer.start()
    try:
        assert indexer.wait_idle(60) and indexer.error is None
        assert [split_snippet(h.snippet)[0] for h in indexer.index.search("repair")] == ["repair me please"]
    finally:
        indexer.stop()


def test_index_of_another_schema_version_is_rebuilt(home):
    seed(home.data_dir, "w", ["versioned text"])
    index = SearchIndex(home.data_dir)
    index.sync_all()
    index.open().execute("UPDATE meta SET value='0' WHERE key='schema'")
    index.close()
    again = SearchIndex(home.data_dir)
    again.sync_all()
    assert again.rebuilt_reason.startswith("unusable (schema version 0")
    assert again.search("versioned")
