"""The search index: its schema, opening and repair, and keeping it up to date from disk.

Owns ``<data>/search.sqlite3`` (a derived cache; see the package docstring): the schema and its
version, a damaged or foreign file replaced by a fresh one, and the sync of each workspace's
``chat.jsonl`` into it (only the new lines of a file that grew; truncation markers honoured;
batches committed so searches see progress). ``SearchIndex.search`` opens a read connection
and hands it to ``muxtui.engine.search.query``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from muxtui.engine.search.query import HL_END, HL_START, Hit, Query, find, parse_query
from muxtui.engine.storage import FORMAT_VERSION, valid_time

log = logging.getLogger("muxtui.search")

SCHEMA_VERSION = 1
INDEX_NAME = "search.sqlite3"
_STRIP = str.maketrans({HL_START: " ", HL_END: " "})
ROLES = ("user", "assistant", "system")
TAIL = 256  # bytes of the indexed part of a file whose hash tells "appended" from "rewritten"
YIELD_EVERY = 200
BATCH = 2000  # messages per transaction during a build, so searches see progress

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS workspaces(
    id TEXT PRIMARY KEY, name TEXT NOT NULL, model TEXT NOT NULL,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, offset INTEGER NOT NULL, tail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages(
    rowid INTEGER PRIMARY KEY, ws TEXT NOT NULL, seq INTEGER NOT NULL, msg_id TEXT NOT NULL,
    role TEXT NOT NULL, model TEXT NOT NULL, created_at REAL NOT NULL, status TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_ws_seq ON messages(ws, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    content, ws, role, model, prefix='2 3', tokenize='unicode61 remove_diacritics 2');
"""
# The filters are FTS columns too (ws = id and name): FTS5 intersects them with the words
# itself, instead of joining every match of a common word against a filter.


class SearchIndex:
    """The derived index of one data folder. Not thread-safe: one thread writes (``Indexer``);
    ``search`` may be called from any thread (it opens its own connection)."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.ws_root = self.data_dir / "workspaces"
        self.path = self.data_dir / INDEX_NAME
        self._db: sqlite3.Connection | None = None
        self.rebuilt_reason: str | None = None  # why the last open started from scratch

    # ---- opening --------------------------------------------------------------------------
    def _connect(self, read: bool = False) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        try:
            if read:
                db.execute("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, fts, 'row')")
                db.execute("PRAGMA query_only=1")
            else:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")  # derived data: a lost tail is rebuilt
        except BaseException:
            db.close()
            raise
        return db

    def open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        reason = None if self.path.exists() else "missing"
        db = None
        try:
            db = self._connect()
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"schema version {row[0]}, expected {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:  # garbage, a torn file, another version
            if db is not None:
                db.close()
            log.warning("search index %s is unusable (%s); rebuilding it", self.path, exc)
            reason = f"unusable ({exc})"
            self._remove_files()
            db = self._connect()
            db.executescript(_SCHEMA)
            db.execute("INSERT INTO meta VALUES('schema', ?)", (str(SCHEMA_VERSION),))
        try:
            os.chmod(self.path, 0o600)  # it holds message text, like chat.jsonl
        except OSError:
            pass
        self.rebuilt_reason = reason
        self._db = db
        return db

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        """Run a write; if the file turns out damaged mid-way (it is only a cache), start over once."""
        try:
            return fn()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            log.warning("search index %s failed (%s); rebuilding it", self.path, exc)
            self.close()
            self._remove_files()
            self.open()
            self.rebuilt_reason = f"unusable ({exc})"
            return fn()

    # ---- keeping it up to date ------------------------------------------------------------
    def workspace_ids(self) -> list[str]:
        try:
            return sorted(p.name for p in self.ws_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        except FileNotFoundError:
            return []

    def sync_all(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Bring every workspace up to date; drop the ones deleted. Returns messages indexed."""
        return self._guarded(lambda: self._sync_all(should_stop))

    def _sync_all(self, should_stop: Callable[[], bool]) -> int:
        db = self.open()
        on_disk = self.workspace_ids()
        known = {r[0] for r in db.execute("SELECT id FROM workspaces")}
        for gone in known - set(on_disk):
            self._drop(db, gone)
        total = 0
        for ws_id in on_disk:
            if should_stop():
                break
            total += self._sync(db, ws_id)
        return total

    def sync_workspace(self, ws_id: str) -> int:
        return self._guarded(lambda: self._sync(self.open(), ws_id))

    def _drop(self, db: sqlite3.Connection, ws_id: str) -> None:
        db.execute("BEGIN")
        try:
            db.execute("DELETE FROM fts WHERE rowid IN (SELECT rowid FROM messages WHERE ws=?)", (ws_id,))
            db.execute("DELETE FROM messages WHERE ws=?", (ws_id,))
            db.execute("DELETE FROM workspaces WHERE id=?", (ws_id,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _sync(self, db: sqlite3.Connection, ws_id: str) -> int:
        folder = self.ws_root / ws_id
        if "/" in ws_id or ws_id in ("", ".", "..") or not folder.is_dir():
            self._drop(db, ws_id)
            return 0
        name, model = _read_meta(folder / "meta.json", ws_id)
        chat = folder / "chat.jsonl"
        try:
            st = chat.stat()
            size, mtime_ns = st.st_size, st.st_mtime_ns
        except FileNotFoundError:
            size, mtime_ns = 0, 0
        row = db.execute("SELECT name, model, size, mtime_ns, offset, tail FROM workspaces WHERE id=?",
                         (ws_id,)).fetchone()
        # A new model is written into its user messages' model column (the model they talked to).
        renamed = row is not None and row[1] != model
        if row is not None and row[2] == size and row[3] == mtime_ns and not renamed:
            if row[0] != name:
                db.execute("UPDATE workspaces SET name=? WHERE id=?", (name, ws_id))
            return 0
        start = 0
        if row is not None and not renamed and 0 < row[4] <= size and _tail_hash(chat, row[4]) == row[5]:
            start = row[4]  # it only grew: read the new lines
        data = b""
        if size:
            with open(chat, "rb") as f:
                f.seek(start)
                data = f.read(size - start)
        end = data.rfind(b"\n") + 1  # a line without its newline yet is read next time
        offset = start + end
        count = 0
        db.execute("BEGIN")
        try:
            if start == 0:
                db.execute("DELETE FROM fts WHERE rowid IN (SELECT rowid FROM messages WHERE ws=?)", (ws_id,))
                db.execute("DELETE FROM messages WHERE ws=?", (ws_id,))
            for rec in _records(data[:end]):
                if rec is None:
                    continue
                if rec["kind"] == "truncate":
                    cut = rec["from_seq"]
                    db.execute("DELETE FROM fts WHERE rowid IN (SELECT rowid FROM messages WHERE ws=? AND seq>=?)",
                               (ws_id, cut))
                    db.execute("DELETE FROM messages WHERE ws=? AND seq>=?", (ws_id, cut))
                    continue
                cur = db.execute(
                    "INSERT INTO messages(ws, seq, msg_id, role, model, created_at, status) VALUES(?,?,?,?,?,?,?)",
                    (ws_id, rec["seq"], rec["id"], rec["role"], rec["model"], rec["created_at"], rec["status"]))
                db.execute("INSERT INTO fts(rowid, content, ws, role, model) VALUES(?,?,?,?,?)",
                           (cur.lastrowid, rec["content"], ws_id, rec["role"],
                            rec["model"] if rec["role"] == "assistant" else model))
                count += 1
                if count % YIELD_EVERY == 0:
                    # Hand the GIL and the CPU to the UI thread: a build on a 2-core machine
                    # under load otherwise stretches key-to-frame times (costs ~1 s per 200k).
                    time.sleep(0.001)
                if count % BATCH == 0:  # let readers see progress on a big workspace
                    db.execute("COMMIT")
                    db.execute("BEGIN")
            db.execute("INSERT OR REPLACE INTO workspaces VALUES(?,?,?,?,?,?,?)",
                       (ws_id, name, model, size if offset == size else -1, mtime_ns, offset,
                        _tail_hash(chat, offset)))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return count

    def is_stale(self) -> bool:
        """Cheap check (one stat per workspace): does any workspace differ from its stamp?"""
        db = self.open()
        stamps = {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, size, mtime_ns FROM workspaces")}
        on_disk = self.workspace_ids()
        if set(stamps) != set(on_disk):
            return True
        for ws_id in on_disk:
            try:
                st = (self.ws_root / ws_id / "chat.jsonl").stat()
                stamp = (st.st_size, st.st_mtime_ns)
            except FileNotFoundError:
                stamp = (0, 0)
            if stamps[ws_id] != stamp:
                return True
        return False

    def count(self) -> int:
        return self.open().execute("SELECT count(*) FROM messages").fetchone()[0]

    # ---- queries --------------------------------------------------------------------------
    def search(self, query: Query | str, limit: int = 50, workspace: str | None = None) -> list[Hit]:
        """Matches, best first (bm25 over the newest ``CANDIDATES`` matches, so a word found in
        every message still answers fast); a query of filters only lists the newest messages.

        ``workspace`` (an id) narrows to one workspace on top of any ``ws:`` filter. Never
        raises on what the user typed: a broken index answers nothing (the indexer repairs it).
        """
        q = parse_query(query) if isinstance(query, str) else query
        if workspace is not None:
            q = Query(q.words, q.workspace, q.role, q.model, q.prefix)
        if q.empty and workspace is None:
            return []
        if not self.path.exists():
            return []  # not built yet: the indexer creates it (never from here, another thread)
        db = None
        try:
            db = self._connect(read=True)
            return find(db, q, limit, workspace)
        except sqlite3.OperationalError as exc:
            # The phrase quoting makes syntax errors impossible; a locked or damaged file is not
            # the user's problem.
            log.warning("search failed: %s", exc)
            return []
        except sqlite3.DatabaseError as exc:
            log.warning("search index unreadable: %s", exc)
            return []
        finally:
            if db is not None:
                db.close()


def _read_meta(path: Path, ws_id: str) -> tuple[str, str]:
    try:
        meta = json.loads(path.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else ws_id
    model = meta.get("model") if isinstance(meta.get("model"), str) else ""
    return name, model


def _tail_hash(path: Path, offset: int) -> str:
    if offset <= 0:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, offset - TAIL))
            return hashlib.blake2b(f.read(min(TAIL, offset)), digest_size=16).hexdigest()
    except OSError:
        return ""


def _records(data: bytes) -> Iterable[dict[str, Any] | None]:
    """History records as the index needs them, under the reading rules of docs/storage.md
    (damaged and newer-version lines skipped, bad fields read leniently)."""
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            yield None
            continue
        if not isinstance(rec, dict):
            continue
        version = rec.get("v", 1)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            continue
        kind = rec.get("kind", "message")
        if kind == "truncate":
            if isinstance(rec.get("from_seq"), int):
                yield {"kind": "truncate", "from_seq": rec["from_seq"]}
            continue
        seq = rec.get("seq")
        role = rec.get("role")
        if kind != "message" or not isinstance(seq, int) or isinstance(seq, bool) or role not in ROLES:
            continue
        content = rec.get("content")
        content = content if isinstance(content, str) else ("" if content is None else str(content))
        status = rec.get("status") if role == "assistant" else ""
        if role == "assistant" and status not in ("complete", "interrupted", "error"):
            status = "interrupted"
        yield {
            "kind": "message", "seq": seq, "role": role, "content": _clean(content),
            "id": rec["id"] if isinstance(rec.get("id"), str) else f"m-seq{seq}",
            "model": rec["model"] if isinstance(rec.get("model"), str) else "",
            "created_at": float(rec["created_at"]) if valid_time(rec.get("created_at")) else 0.0,
            "status": status,
        }



def _clean(text: str) -> str:
    return text.translate(_STRIP)
