"""Full-text search over every message of every workspace: the derived index and its queries.

The index is a SQLite FTS5 database at ``<data>/search.sqlite3`` (stdlib ``sqlite3``: no new
dependency). It is *derived*: the workspaces' ``chat.jsonl`` files are the truth, and the index
is brought up to date from them whenever it is missing, damaged, of another schema version or
stale. Staleness is judged per workspace by a stamp of its ``chat.jsonl`` (size, mtime and a
hash of the last indexed bytes): a file that only grew is read from where the index stopped
(appends by this or another process); anything else is indexed again from the start.

Truncation markers are honoured as ``storage.load_history`` does: the messages they drop leave
the index, so search only finds what the conversation holds.

``SearchIndex`` is the synchronous index (one write connection; queries open their own
read connection, so they never wait behind a build thanks to WAL). ``Indexer`` runs it in one
background thread fed by the stream manager's events, so nothing here ever runs on the UI's
event loop. The whole-folder sync (a full build on first use) runs in a child process
(``python -m muxtui.engine.search DATA_DIR``, niced): in a thread, its JSON parsing held the GIL
against the UI and a 200,000-message build stretched key-to-frame from ~0.1 s to ~1.4 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from muxtui.engine import events as ev
from muxtui.engine.storage import FORMAT_VERSION, valid_time

log = logging.getLogger("muxtui.search")

SCHEMA_VERSION = 1
INDEX_NAME = "search.sqlite3"
# Snippet highlight markers: control characters are removed from indexed text, so they cannot
# come from a message.
HL_START, HL_END = "\x02", "\x03"
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
CANDIDATES = 2000  # newest matches ranked per query: bounds the cost of a very common word


@dataclass(frozen=True, slots=True)
class Query:
    """What the user typed, split into words and filters (``ws:``, ``role:``, ``model:``)."""

    words: tuple[str, ...] = ()
    workspace: str | None = None
    role: str | None = None
    model: str | None = None
    prefix: bool = True  # the last word is still being typed: match it as a prefix

    @property
    def empty(self) -> bool:
        return not self.words and not (self.workspace or self.role or self.model)

    def match_expression(self, expand: Callable[[str], list[str] | None] = lambda _: None) -> str:
        """An FTS5 expression that cannot be a syntax error: every word and filter value is a
        quoted phrase, so ``AND``, ``-``, ``*``, ``"`` and ``(`` are just text. (The ``ws:``
        filter is applied by ``SearchIndex.search``.)

        The last word is a prefix (type-ahead). ``expand`` may turn it into the index's words
        that start with it: an OR of exact words reads their lists newest first, where a long
        prefix makes FTS5 merge whole lists (400 ms on 200,000 messages)."""
        parts = [_phrase(w) for w in self.words]
        if parts and self.prefix and len(self.words[-1]) > 1:  # one letter would match half the index
            terms = expand(self.words[-1])
            if terms:
                parts[-1] = "(" + " OR ".join(_phrase(t) for t in terms) + ")"
            elif terms is None:
                parts[-1] += "*"
        clauses = [f"content : ({' AND '.join(parts)})"] if parts else []
        if self.role:
            clauses.append(f"role : {_phrase(self.role)}")
        if self.model:
            clauses.append(f"model : ({_phrase(self.model)}*)")
        return " AND ".join(clauses)

    def highlight_pattern(self) -> re.Pattern[str] | None:
        """The words as the index's tokenizer sees them (letters and digits, any case), the last
        one as a prefix while it is being typed."""
        tokens: list[str] = []
        for n, word in enumerate(self.words):
            parts = re.findall(r"[^\W_]+", word)
            last = n == len(self.words) - 1 and self.prefix and len(word) > 1
            tokens += [re.escape(t) + (r"[^\W_]*" if last and k == len(parts) - 1 else "")
                       for k, t in enumerate(parts)]
        if not tokens:
            return None
        return re.compile(r"(?<![^\W_])(?:" + "|".join(sorted(set(tokens), key=len, reverse=True)) + r")(?![^\W_])",
                          re.IGNORECASE)


SNIPPET = 160  # characters of context shown around the first match


def make_snippet(text: str, pattern: re.Pattern[str] | None) -> str:
    """About SNIPPET characters around the first match, matches wrapped in HL_START/HL_END."""
    first = pattern.search(text) if pattern is not None else None
    start = 0
    if first is not None and first.start() > SNIPPET // 3:
        start = first.start() - SNIPPET // 3
        space = text.rfind(" ", 0, start + 1)
        start = space + 1 if space > start - 20 else start
    end = min(len(text), start + SNIPPET)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > end - 20 else end
    window = text[start:end]
    if pattern is not None:
        window = pattern.sub(lambda m: f"{HL_START}{m.group(0)}{HL_END}", window)
    return ("…" if start > 0 else "") + window + ("…" if end < len(text) else "")


_SIMPLE_WORD = re.compile(r"[a-z0-9]{4,}")
MAX_EXPANSION = 40
JOIN = "CROSS JOIN messages m ON m.rowid = fts.rowid"  # CROSS: keep fts outside, read newest first
STRONG_WS_FILTER = 200  # up to this many workspaces, the ws filter goes into the FTS query


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


_FILTER = re.compile(r'(?<!\S)(ws|workspace|role|model):(?:"([^"]*)"?|(\S*))', re.IGNORECASE)


def parse_query(text: str) -> Query:
    filters: dict[str, str] = {}

    def take(m: re.Match) -> str:
        key = m.group(1).lower()
        key = "ws" if key == "workspace" else key
        value = m.group(2) if m.group(2) is not None else m.group(3)
        if value:
            filters[key] = value
        return " "

    rest = _FILTER.sub(take, text)
    # A word with no letter or digit holds no token: as a phrase it would match nothing at all.
    words = tuple(w for w in rest.split() if any(ch.isalnum() for ch in w))
    role = filters.get("role", "").lower() or None
    return Query(words, filters.get("ws"), role, filters.get("model"),
                 prefix=bool(words) and not text[-1:].isspace())


@dataclass(frozen=True, slots=True)
class Hit:
    workspace_id: str
    workspace_name: str
    seq: int
    message_id: str
    role: str
    model: str
    created_at: float
    status: str
    snippet: str  # with HL_START / HL_END around each matched term

    def to_dict(self) -> dict[str, Any]:
        text, spans = split_snippet(self.snippet)
        return {"workspace": self.workspace_id, "workspace_name": self.workspace_name, "seq": self.seq,
                "message_id": self.message_id, "role": self.role, "model": self.model,
                "created_at": self.created_at, "status": self.status, "snippet": text,
                "highlights": [list(s) for s in spans]}


def split_snippet(snippet: str) -> tuple[str, list[tuple[int, int]]]:
    """The snippet's plain text and the (start, end) offsets of the highlighted terms."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    start: int | None = None
    for ch in snippet:
        if ch == HL_START:
            start = pos
        elif ch == HL_END:
            if start is not None and pos > start:
                spans.append((start, pos))
            start = None
        else:
            out.append(ch)
            pos += 1
    return "".join(out), spans


def _clean(text: str) -> str:
    return text.translate(_STRIP)


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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
            return sorted(p.name for p in self.ws_root.iterdir() if p.is_dir())
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
            ws_ids: list[str] | None = None  # None: no workspace filter
            if workspace is not None:
                ws_ids = [workspace]
            if q.workspace:
                found = [r[0] for r in db.execute(
                    "SELECT id FROM workspaces WHERE id = ? OR name LIKE ? ESCAPE '\\'",
                    (q.workspace, _like(q.workspace)))]
                ws_ids = found if ws_ids is None else [w for w in ws_ids if w in found]
            if ws_ids is not None and not ws_ids:
                return []
            expression = q.match_expression(lambda word: self._expand(db, word))
            join_filter = ""
            args: list[Any] = []
            if ws_ids is not None and len(ws_ids) <= STRONG_WS_FILTER:
                ws_clause = "ws : (" + " OR ".join(_phrase(w) for w in ws_ids) + ")"
                expression = f"{expression} AND {ws_clause}" if expression else ws_clause
            elif ws_ids is not None:
                # A filter most workspaces pass: check it on the newest matches instead.
                join_filter = f"AND m.ws IN ({','.join('?' * len(ws_ids))})"
                args = list(ws_ids)
            if not expression:  # only a weak ws filter: the newest messages
                rows = db.execute(f"SELECT fts.rowid FROM fts {JOIN} WHERE 1 {join_filter} ORDER BY fts.rowid DESC LIMIT ?",
                                  (*args, limit)).fetchall()
            elif q.words:
                rows = db.execute(
                    "SELECT rowid FROM (SELECT fts.rowid AS rowid, bm25(fts, 1.0, 0.0, 0.0, 0.0) AS score FROM fts "
                    f"{JOIN} WHERE fts MATCH ? {join_filter} ORDER BY fts.rowid DESC LIMIT ?) ORDER BY score LIMIT ?",
                    (expression, *args, CANDIDATES, limit)).fetchall()
            else:
                rows = db.execute(f"SELECT fts.rowid FROM fts {JOIN} WHERE fts MATCH ? {join_filter} "
                                  "ORDER BY fts.rowid DESC LIMIT ?", (expression, *args, limit)).fetchall()
            ids = [r[0] for r in rows]
            marks = ",".join("?" * len(ids))
            metas = {r[0]: r[1:] for r in db.execute(
                "SELECT m.rowid, m.ws, w.name, m.seq, m.msg_id, m.role, m.model, m.created_at, m.status "
                f"FROM messages m JOIN workspaces w ON w.id = m.ws WHERE m.rowid IN ({marks})", ids)}
            texts = dict(db.execute(f"SELECT rowid, content FROM fts WHERE rowid IN ({marks})", ids).fetchall())
            # Snippets are cut here rather than by FTS5's snippet(), which re-runs the whole
            # match per row (60-80 ms for 50 hits of common words on 200,000 messages).
            pattern = q.highlight_pattern()
            hits = [Hit(*metas[i], make_snippet(texts.get(i) or "", pattern)) for i in ids if i in metas]
            return hits
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

    @staticmethod
    def _expand(db: sqlite3.Connection, word: str) -> list[str] | None:
        """The index's words starting with `word` ([] for none), or None to let FTS5 do it."""
        word = word.lower()
        if len(word) <= 3 or not _SIMPLE_WORD.fullmatch(word):
            return None  # short prefixes have their own prefix index; other words go to FTS5
        end = word[:-1] + chr(ord(word[-1]) + 1)
        terms = [r[0] for r in db.execute("SELECT term FROM temp.vocab WHERE term >= ? AND term < ? LIMIT ?",
                                          (word, end, MAX_EXPANSION + 1))]
        return None if len(terms) > MAX_EXPANSION else terms



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


# Engine events after which a workspace's file (or its name) may have changed.
_WATCHED = frozenset({ev.MESSAGE_ADDED, ev.WORKSPACE_RECOVERED, ev.HISTORY_TRUNCATED, ev.HISTORY_RELOADED,
                      ev.WORKSPACE_CREATED, ev.WORKSPACE_UPDATED, ev.WORKSPACE_DELETED, *ev.STREAM_CLOSED})


class Indexer:
    """Keeps a ``SearchIndex`` current from one background thread.

    ``start()`` brings the whole index up to date (a full build the first time); ``attach`` to a
    stream manager re-syncs a workspace after each event that commits to its history. The
    listener only records the workspace id and wakes the thread: it never touches disk.
    """

    def __init__(self, data_dir: Path):
        self.index = SearchIndex(data_dir)
        self._wake = threading.Condition()
        self._pending: set[str] = set()
        self._all = True
        self._stop = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set after the first full sync
        self.generation = 0  # bumped after each batch of work (tests and the UI wait on it)
        self.build_seconds: float | None = None
        self.error: str | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._child: subprocess.Popen | None = None
        self.in_process = False  # tests: run the whole-folder sync in this process instead

    def attach(self, manager: Any) -> None:
        self._unsubscribe = manager.subscribe(self._on_event)

    def _on_event(self, event: ev.Event) -> None:
        if event.type in _WATCHED:
            self.schedule(event.workspace)

    def schedule(self, ws_id: str | None = None) -> None:
        """Re-sync one workspace (or all, with None) soon."""
        with self._wake:
            if ws_id is None:
                self._all = True
            else:
                self._pending.add(ws_id)
            self._wake.notify()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="muxtui-search-index", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._wake:
            self._stop = True
            self._wake.notify()
            child = self._child
        if child is not None and child.poll() is None:
            child.terminate()  # it commits in batches: what it wrote stays, the rest is redone later
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float = 30) -> bool:
        """Block until nothing is pending (tests, the CLI). False on timeout."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._all or self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._wake.wait(min(left, 0.5))
        return True

    def _sync_all(self) -> None:
        if not self.in_process:
            self.index.close()  # the child may replace a damaged file
            try:
                with self._wake:
                    if self._stop:
                        return
                    self._child = subprocess.Popen(
                        [sys.executable, "-m", "muxtui.engine.search", str(self.index.data_dir)],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                _out, err = self._child.communicate()
                code = self._child.returncode
            except OSError as exc:
                code, err = -1, str(exc).encode()
            finally:
                self._child = None
            if code == 0 or self._stop:
                return
            log.warning("search index child failed (%s): %s; syncing in this process", code,
                        err.decode(errors="replace")[-500:])
        self.index.sync_all(lambda: self._stop)

    def _run(self) -> None:
        try:
            while True:
                with self._wake:
                    while not (self._stop or self._all or self._pending):
                        self._wake.wait()
                    if self._stop:
                        return
                    do_all, self._all = self._all, False
                    ids, self._pending = self._pending, set()
                    self._busy = True
                try:
                    if do_all:
                        t0 = time.perf_counter()
                        self._sync_all()
                        self.build_seconds = time.perf_counter() - t0
                        self.ready.set()
                    else:
                        for ws_id in sorted(ids):
                            self.index.sync_workspace(ws_id)
                    self.error = None
                except Exception as exc:  # the index is a convenience: log, carry on
                    log.exception("search index update failed")
                    self.error = str(exc)
                    self.ready.set()
                finally:
                    with self._wake:
                        self._busy = False
                        self.generation += 1
                        self._wake.notify_all()
        finally:
            self.index.close()


def _main(argv: list[str]) -> int:
    """``python -m muxtui.engine.search DATA_DIR``: bring the folder's index up to date."""
    try:
        os.nice(10)  # the UI comes first
    except OSError:
        pass
    index = SearchIndex(Path(argv[0]))
    try:
        index.sync_all()
    finally:
        index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
