"""The data subcommands: workspaces, history, export, import, search, logs, restore."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from muxtui.cli.common import EXIT_ERROR, EXIT_USAGE, _engine, _resolve
from muxtui.client import TRASH_KEEP_DAYS, ImportError_, StorageError, split_snippet, when_text
from muxtui.client.attachments import describe
from muxtui.paths import Paths

async def _workspaces(args, paths: Paths, cfg) -> int:
    engine = _engine(paths, cfg)
    for info in await engine.list_workspaces():
        when = when_text(info.last_activity or info.created_at)
        print(f"{info.id}  {when}  {info.model:<28}  {info.name}")
    return 0


async def _history(args, paths: Paths, cfg) -> int:
    engine = _engine(paths, cfg)
    info = await _resolve(engine, args.workspace)
    ws = await engine.open_workspace(info.id)
    for w in ws.warnings:
        print(f"muxtui: warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps({"workspace": ws.info.to_dict(), "messages": ws.messages, "queue": ws.queue},
                         ensure_ascii=False, indent=1))
        return 0
    for m in ws.messages:
        head = m["role"]
        if m["role"] == "assistant":
            head += f" ({m.get('model')}, {m.get('status')})"
        print(f"--- #{m['seq']} {head}")
        print(m.get("content", ""))
        if m.get("attachments"):
            print("[attached: " + ", ".join(describe(r) for r in m["attachments"]) + "]")
        if m.get("status") == "error":
            print(f"[error: {m.get('error_type')}: {m.get('error')}]")
    for q in ws.queue:
        files = "".join(f" [{describe(r)}]" for r in q.get("attachments") or ())
        print(f"--- queued: {q['text']}{files}")
    return 0


async def _export(args, paths: Paths, cfg) -> int:
    engine = _engine(paths, cfg)
    info = await _resolve(engine, args.workspace)
    text = await engine.export_workspace(info.id, args.format)
    # In slices: when the reader goes away during one big write, Python reports the short write
    # as success and drops the rest; the next slice then meets the closed pipe and says so.
    for start in range(0, len(text), 16384):
        sys.stdout.write(text[start:start + 16384])
    return 0


async def _import(args, paths: Paths, cfg) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        data = json.loads(raw)
    except OSError as exc:
        print(f"muxtui: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"muxtui: {args.file} is not JSON ({exc}); nothing imported", file=sys.stderr)
        return EXIT_USAGE
    try:
        info = await _engine(paths, cfg).import_workspace(data, args.workspace)
    except ImportError_ as exc:
        print(f"muxtui: cannot import {args.file}: {exc}; nothing imported", file=sys.stderr)
        return EXIT_USAGE
    print(f"imported into workspace {info.name!r} ({info.id})")
    return 0


async def _search(args, paths: Paths, cfg) -> int:
    engine = _engine(paths, cfg)
    ws_id = (await _resolve(engine, args.workspace)).id if args.workspace else None
    warning = await engine.catch_up_search()
    if warning:
        print(f"muxtui: warning: {warning}", file=sys.stderr)
    hits = await engine.search(" ".join(args.query), args.n, ws_id)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return 0
    for h in hits:
        text, _spans = split_snippet(h.snippet)
        who = h.role if h.role != "assistant" else (h.model or "assistant")
        print(f"{h.workspace_name} #{h.seq} · {who} · {when_text(h.created_at)}")
        print("  " + " ".join(text.split()))
    if not hits:
        print("no matches", file=sys.stderr)
    return 0


async def _logs(args, paths: Paths, cfg) -> int:
    engine = _engine(paths, cfg)
    found = await engine.logs("audit" if args.audit else "errors", args.n)
    records = found["records"]
    if args.json:
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False))
        return 0
    if not records:
        name = found["file"]
        print(f"muxtui: nothing logged yet ({name})", file=sys.stderr)
        return 0
    try:
        names = {i.id: i.name for i in await engine.list_workspaces()}
    except OSError:
        names = {}
    width = shutil.get_terminal_size((100, 24)).columns
    sys.stdout.write("".join(line + "\n" for line in log_table(records, names, width)))
    return 0


async def _restore(args, paths: Paths, cfg) -> int:
    """`muxtui restore`: list the trash; `muxtui restore NAME`: move that workspace back."""
    engine = _engine(paths, cfg)
    await engine.purge_trash()
    if not args.workspace:
        entries = await engine.list_trash()
        if not entries:
            print(f"the trash is empty (deleted workspaces are kept {TRASH_KEEP_DAYS} days)")
        for t in entries:
            when = datetime.fromtimestamp(t["deleted_at"]).strftime("%Y-%m-%d %H:%M")
            print(f"{t['id']}  deleted {when}  {t['model']:<28}  {t['name']}")
        return 0
    try:
        info = await engine.restore_workspace(args.workspace)
    except KeyError:
        print(f"muxtui: no deleted workspace {args.workspace!r} (`muxtui restore` lists them)", file=sys.stderr)
        return EXIT_ERROR
    except (StorageError, OSError) as exc:
        print(f"muxtui: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"restored '{info.name}' ({info.id})")
    return 0


def log_table(records: list[dict[str, Any]], names: dict[str, str], width: int) -> list[str]:
    """Log records as a table: time, kind, workspace, message; the message column wraps to
    `width` (below ~60 columns it goes on its own indented lines)."""
    import textwrap

    from muxtui.safetext import one_line

    rows = []
    for rec in records:
        ts = rec.get("ts")
        try:
            when = datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M:%S")
        except (TypeError, ValueError, OverflowError, OSError):
            when = "?"
        ws = rec.get("workspace")
        workspace = one_line(names.get(ws, ws) if isinstance(ws, str) else "-", 20)
        rows.append((when, one_line(str(rec.get("close_kind") or "-"), 18), workspace, one_line(_log_message(rec))))
    kind_w = max(4, *(len(r[1]) for r in rows))
    ws_w = max(9, *(len(r[2]) for r in rows))
    head = f"{'time':<19}  {'kind':<{kind_w}}  {'workspace':<{ws_w}}  "
    room = width - len(head)
    out = [head + "message" if room >= 20 else head.rstrip()]
    for when, kind, workspace, message in rows:
        prefix = f"{when:<19}  {kind:<{kind_w}}  {workspace:<{ws_w}}  "
        if room >= 20:
            lines = textwrap.wrap(message, room, break_long_words=True, break_on_hyphens=False) or [""]
            out.append(prefix + lines[0])
            out.extend(" " * len(prefix) + line for line in lines[1:])
        else:
            out.append(prefix.rstrip())
            out.extend("    " + line for line in textwrap.wrap(message, max(10, width - 4)))
    return out


def _log_message(rec: dict[str, Any]) -> str:
    parts = [str(rec.get("model") or "-")]
    if rec.get("error_type"):
        parts.append(f"{rec['error_type']}: {rec.get('error') or ''}".rstrip(": "))
    elif isinstance(rec.get("chars"), int):
        parts.append(f"{rec['chars']:,} chars")
    if isinstance(rec.get("duration"), (int, float)):
        parts.append(f"{rec['duration']:.1f} s")
    if rec.get("upstream_status"):
        parts.append(f"HTTP {rec['upstream_status']}")
    return " · ".join(parts)


