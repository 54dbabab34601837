"""Search queries: what the user typed, the FTS5 query made of it, and the hits it finds.

Owns the query language (words, the last one a prefix while it is typed, and the ``ws:``,
``role:``, ``model:`` filters), its translation into an FTS5 expression that cannot be a syntax
error, the SQL that ranks the newest matches (bm25 over at most ``CANDIDATES``) against an open
index connection, and the snippets with their highlight markers.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any, Callable

# Snippet highlight markers: control characters are removed from indexed text, so they cannot
# come from a message.
HL_START, HL_END = "\x02", "\x03"
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


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def find(db: sqlite3.Connection, q: Query, limit: int, workspace: str | None) -> list[Hit]:
    """The hits of `q` on a read connection of the index, best first (``SearchIndex.search``
    opens the connection and owns the error policy)."""
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
    expression = q.match_expression(lambda word: _expand(db, word))
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


def _expand(db: sqlite3.Connection, word: str) -> list[str] | None:
    """The index's words starting with `word` ([] for none), or None to let FTS5 do it."""
    word = word.lower()
    if len(word) <= 3 or not _SIMPLE_WORD.fullmatch(word):
        return None  # short prefixes have their own prefix index; other words go to FTS5
    end = word[:-1] + chr(ord(word[-1]) + 1)
    terms = [r[0] for r in db.execute("SELECT term FROM temp.vocab WHERE term >= ? AND term < ? LIMIT ?",
                                      (word, end, MAX_EXPANSION + 1))]
    return None if len(terms) > MAX_EXPANSION else terms
