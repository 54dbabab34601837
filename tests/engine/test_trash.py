"""The trash of deleted workspaces: list, restore (engine and `muxtui restore`), purge after 30 days."""

from __future__ import annotations

import os

import pytest

from muxtui.engine import trash
from muxtui.engine.storage import Storage, StorageError

from tests.helpers.cli import muxtui


def _deleted(storage: Storage, name: str, text: str = "hello") -> str:
    info = storage.create_workspace(name, "fake:plain")
    storage.store(info.id).append({"id": f"m-{name}", "role": "user", "content": text, "created_at": 1.0})
    storage.delete_workspace(info.id)
    return info.id


def test_restore_brings_the_folder_and_history_back(home):
    storage = Storage(home.data_dir)
    keep = storage.create_workspace("keep", "fake:plain")
    gone = _deleted(storage, "gone", "words to keep")
    assert [i.id for i in storage.list_workspaces()] == [keep.id]
    [entry] = trash.list_trash(storage)
    assert (entry.id, entry.name, entry.model) == (gone, "gone", "fake:plain")
    assert trash.find(storage, "gone") == entry == trash.find(storage, gone)
    info = trash.restore(storage, entry)
    assert (info.id, info.name) == (gone, "gone")
    assert [i.id for i in storage.list_workspaces()] == [keep.id, gone]
    assert [m["content"] for m in storage.store(gone).load_history().messages] == ["words to keep"]
    assert trash.list_trash(storage) == []
    with pytest.raises(StorageError, match="no longer in the trash"):
        trash.restore(storage, entry)


def test_restore_refuses_to_overwrite_a_live_workspace(home):
    storage = Storage(home.data_dir)
    gone = _deleted(storage, "twice")
    entry = trash.list_trash(storage)[0]
    os.makedirs(storage.ws_root / gone)  # the same id is in use again (restored from a copy)
    with pytest.raises(StorageError, match="exists already"):
        trash.restore(storage, entry)
    assert entry.path.exists()  # nothing moved, nothing lost


def test_purge_removes_only_what_was_deleted_over_30_days_ago(home):
    storage = Storage(home.data_dir)
    old = _deleted(storage, "old")
    recent = _deleted(storage, "recent")
    # Deletion time is in the folder name (a rename keeps the folder's mtime): age one entry.
    old_entry = next(t for t in trash.list_trash(storage) if t.id == old)
    aged = old_entry.path.with_name(f"{old}-{int(old_entry.deleted_at) - 31 * 86400}")
    os.replace(old_entry.path, aged)
    assert trash.purge(storage) == [aged.name]
    assert [t.id for t in trash.list_trash(storage)] == [recent]
    # a faked clock 30 days on: the recent one goes too
    entry = trash.list_trash(storage)[0]
    assert trash.purge(storage, now=entry.deleted_at + 29 * 86400) == []
    assert trash.purge(storage, now=entry.deleted_at + 31 * 86400) == [entry.key]


def test_cli_restore_lists_and_restores(home):
    storage = Storage(home.data_dir)
    gone = _deleted(storage, "from the cli")
    listing = muxtui(home, "restore")
    assert listing.returncode == 0, listing.stderr
    assert gone in listing.stdout and "from the cli" in listing.stdout
    missing = muxtui(home, "restore", "nosuch")
    assert missing.returncode == 1 and "no deleted workspace 'nosuch'" in missing.stderr
    done = muxtui(home, "restore", "from the cli")
    assert done.returncode == 0, done.stderr
    assert f"restored 'from the cli' ({gone})" in done.stdout
    assert [i.id for i in storage.list_workspaces()] == [gone]
    assert "trash is empty" in muxtui(home, "restore").stdout
