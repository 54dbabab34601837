"""Storage: append-only history, seq, damaged input, names, permissions, two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from muxtui.engine.storage import FORMAT_VERSION, Storage, clean_name


@pytest.fixture
def storage(tmp_path) -> Storage:
    return Storage(tmp_path / "data")


def test_seq_is_strictly_increasing_and_restored_after_restart(storage):
    info = storage.create_workspace("w", "demo:x")
    store = storage.store(info.id)
    seqs = [store.append({"role": "user", "content": str(i)})["seq"] for i in range(5)]
    assert seqs == sorted(set(seqs))
    again = Storage(storage.root).store(info.id)
    hist = again.load_history()
    assert [m["content"] for m in hist.messages] == ["0", "1", "2", "3", "4"]
    assert again.append({"role": "user", "content": "x"})["seq"] == seqs[-1] + 1
    assert all(m["v"] == FORMAT_VERSION for m in hist.messages)


def test_damaged_and_newer_lines_are_skipped_and_kept(storage):
    info = storage.create_workspace("w", "demo:x")
    store = storage.store(info.id)
    store.append({"role": "user", "content": "one"})
    with open(store.chat, "ab") as f:
        f.write(b'{"v": 1, "role": "assistant", "content": "trunc\n')
        f.write(json.dumps({"v": 99, "seq": 50, "role": "user", "content": "future"}).encode() + b"\n")
        f.write(b"\xff\xfe not json\n")
    store.append({"role": "user", "content": "two"})
    hist = Storage(storage.root).store(info.id).load_history()
    assert [m["content"] for m in hist.messages] == ["one", "two"]
    assert len(hist.warnings) == 3
    assert any("newer" in w for w in hist.warnings)
    raw = store.chat.read_bytes()
    assert b"trunc" in raw and b"future" in raw  # nothing deleted
    # seq never repeats, even past the newer-format line.
    assert hist.messages[-1]["seq"] > 50


def test_torn_last_line_is_not_glued_to_the_next_record(storage):
    info = storage.create_workspace("w", "demo:x")
    store = storage.store(info.id)
    store.append({"role": "user", "content": "one"})
    with open(store.chat, "ab") as f:
        f.write(b'{"v":1,"kind":"message","seq":2,"role":"assis')  # kill -9 mid-append
    store2 = Storage(storage.root).store(info.id)
    store2.append({"role": "user", "content": "after crash"})
    hist = store2.load_history()
    assert [m["content"] for m in hist.messages] == ["one", "after crash"]
    assert len(hist.warnings) == 1


def test_truncate_marker_hides_later_messages_but_keeps_them_on_disk(storage):
    info = storage.create_workspace("w", "demo:x")
    store = storage.store(info.id)
    a = store.append({"role": "user", "content": "a"})
    store.append({"role": "assistant", "content": "b", "status": "complete"})
    store.append_truncate(a["seq"])
    store.append({"role": "user", "content": "a2"})
    hist = store.load_history()
    assert [m["content"] for m in hist.messages] == ["a2"]
    assert b'"content":"b"' in store.chat.read_bytes()


def test_damaged_queue_partial_registry_are_kept_aside(storage):
    info = storage.create_workspace("keep me", "demo:x")
    store = storage.store(info.id)
    store.queue_file.write_text("{not json")
    store.partial.write_text("[1, 2")
    storage.registry_file.write_text("garbage")
    items, warnings = store.load_queue()
    assert items == [] and warnings and (store.folder / "queue.json.corrupt").exists()
    assert store.read_partial() == {"damaged": str(store.folder / "partial.json.corrupt")}
    again = Storage(storage.root)
    names = [w.name for w in again.list_workspaces()]
    assert names == ["keep me"]
    assert (storage.root / "workspaces.json.corrupt").read_text() == "garbage"
    assert again.warnings


def test_folder_missing_its_files_still_lists(storage):
    (storage.ws_root / "wdeadbeef").mkdir()
    infos = storage.list_workspaces()
    assert [i.id for i in infos] == ["wdeadbeef"]
    assert infos[0].name.startswith("recovered")
    assert storage.store("wdeadbeef").load_history().messages == []


@pytest.mark.parametrize("name", ["a/b", "..", "../../etc/passwd", "line\nbreak\r\x1b[2J", "🦊 fox", "x" * 10_000, ""])
def test_odd_names_are_display_text_only(storage, name):
    info = storage.create_workspace(name, "demo:x")
    folders = [p.name for p in storage.ws_root.iterdir()]
    assert folders == [info.id]
    assert "\n" not in info.name and "\x1b" not in info.name and len(info.name) <= 200
    assert storage.list_workspaces()[0].name == info.name
    assert clean_name(name) == info.name


def test_invalid_ids_are_refused(storage):
    for bad in ("../x", "a/b", "", ".."):
        with pytest.raises(Exception):
            storage.store(bad)


def test_files_are_private(storage):
    info = storage.create_workspace("w", "demo:x")
    store = storage.store(info.id)
    store.append({"role": "user", "content": "x"})
    store.write_partial({"content": "y"})
    store.save_queue([{"id": "q", "text": "z"}])
    for p in (store.chat, store.partial, store.queue_file, store.meta_file, storage.registry_file):
        assert p.stat().st_mode & 0o777 == 0o600, p
    assert store.folder.stat().st_mode & 0o777 == 0o700


def test_rename_and_delete_keep_data(storage):
    info = storage.create_workspace("w", "demo:x")
    storage.store(info.id).append({"role": "user", "content": "precious"})
    storage.update_workspace(info.id, name="renamed")
    assert storage.list_workspaces()[0].name == "renamed"
    target = storage.delete_workspace(info.id)
    assert storage.list_workspaces() == []
    assert b"precious" in (target / "chat.jsonl").read_bytes()


APPENDER = """
import sys
from muxtui.engine.storage import Storage
store = Storage(sys.argv[1]).store(sys.argv[2])
for i in range(int(sys.argv[3])):
    store.append({"role": "user", "content": sys.argv[4] + str(i)})
"""


def test_two_processes_appending_never_repeat_seq(storage):
    info = storage.create_workspace("w", "demo:x")
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(storage.root), info.id, "150", tag])
        for tag in ("a", "b")
    ]
    for p in procs:
        assert p.wait(60) == 0
    hist = storage.store(info.id).load_history()
    assert hist.warnings == []
    seqs = [m["seq"] for m in hist.messages]
    assert len(seqs) == 300 and len(set(seqs)) == 300 and seqs == sorted(seqs)
    for tag in ("a", "b"):
        mine = [m["content"] for m in hist.messages if m["content"].startswith(tag)]
        assert mine == [f"{tag}{i}" for i in range(150)]


def test_last_message_reads_only_the_tail(storage):
    info = storage.create_workspace("w", "demo:x")
    store = storage.store(info.id)
    for i in range(400):
        store.append({"role": "user", "content": f"q{i} " + "x" * 300})
        store.append({"role": "assistant", "content": f"a{i}", "status": "complete" if i < 399 else "error",
                      "error_type": "rate_limit"})
    fresh = Storage(storage.root).store(info.id)
    last = fresh.last_message(tail_bytes=4096)
    assert (last["content"], last["status"], last["error_type"]) == ("a399", "error", "rate_limit")
    assert fresh._known_size == -1  # the whole file was not read
    first_seq = fresh.load_history().messages[-2]["seq"]
    fresh.append_truncate(first_seq)  # a marker in the tail: the full read decides
    assert Storage(storage.root).store(info.id).last_message(tail_bytes=4096)["content"] == "a398"


def test_a_listing_during_create_never_renames_the_new_workspace(tmp_path):
    """A folder made before its meta.json was seen by a concurrent listing (the app's folder
    watch) as damaged: it was named "recovered …", and that name could win over the real one."""
    import threading

    storage = Storage(tmp_path / "data")
    storage.create_workspace("seed", "demo:x")
    done = threading.Event()
    seen: set[str] = set()

    def lister() -> None:
        while not done.is_set():
            seen.update(i.name for i in Storage(tmp_path / "data").list_workspaces())

    thread = threading.Thread(target=lister)
    thread.start()
    try:
        made = [storage.create_workspace(f"ws {n}", "demo:x") for n in range(150)]
    finally:
        done.set()
        thread.join(10)
    names = {i.id: i.name for i in Storage(tmp_path / "data").list_workspaces()}
    assert all(names[i.id] == i.name for i in made)
    assert not [n for n in seen if n.startswith("recovered")]
