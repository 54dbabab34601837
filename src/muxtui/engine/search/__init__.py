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

The rooms: ``index`` (schema, opening and repair, syncing from ``chat.jsonl``, running a
search), ``query`` (what the user typed, the FTS5 query built from it, ranking, snippets,
hits), ``indexer`` (the background thread and the child process), ``__main__`` (the child).
"""

from muxtui.engine.search.index import INDEX_NAME, SCHEMA_VERSION, SearchIndex
from muxtui.engine.search.indexer import Indexer
from muxtui.engine.search.query import HL_END, HL_START, Hit, Query, make_snippet, parse_query, split_snippet

__all__ = ["HL_END", "HL_START", "INDEX_NAME", "SCHEMA_VERSION", "Hit", "Indexer", "Query", "SearchIndex",
           "make_snippet", "parse_query", "split_snippet"]
