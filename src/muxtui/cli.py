"""The `muxtui` command: the app by default, plus send / workspaces / history / export / logs / doctor.

Output: everything a command prints goes through ``sys.stdout``/``sys.stderr``, which ``main``
fronts with ``muxtui.safetext.TerminalText`` when they are terminals, so model text, names and
error messages never drive the terminal (``--raw`` turns this off; a pipe or a file always gets
the exact text). A reader that closes the pipe ends any command quietly with status 141.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from muxtui import __version__
from muxtui.paths import Paths
from muxtui.safetext import TerminalText, is_terminal

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shell tools do


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not raise on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except OSError:
        pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="muxtui", description="Keyboard-driven terminal workspaces for LLM chat.")
    p.add_argument("--home", metavar="DIR", help="keep config, data and logs under DIR (like MUXTUI_HOME)")
    p.add_argument("--version", action="version", version=f"muxtui {__version__}")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("send", help="send a message and stream the reply to stdout")
    s.add_argument("-w", "--workspace", help="workspace name or id (created if missing)", default="cli")
    s.add_argument("-m", "--model", help='model as "provider:model"')
    s.add_argument("text", nargs="+", help="the message ('-' reads stdin)")

    sub.add_parser("workspaces", help="list workspaces")
    h = sub.add_parser("history", help="print a workspace's messages")
    h.add_argument("-w", "--workspace", required=True)
    h.add_argument("--json", action="store_true", help='print {"workspace": ..., "messages": [...]}')
    e = sub.add_parser("export", help="print a workspace as Markdown or JSON")
    e.add_argument("-w", "--workspace", required=True)
    e.add_argument("--format", choices=("md", "json"), default="md", help="md (default) or json (for import)")
    im = sub.add_parser("import", help="import a JSON export or an OpenAI-style messages array as a new workspace")
    im.add_argument("file", help="the JSON file ('-' reads stdin)")
    im.add_argument("-w", "--workspace", help="name of the new workspace (default: the exported name)")
    sr = sub.add_parser("search", help="search the messages of every workspace")
    sr.add_argument("query", nargs="+", help="words; filters ws:NAME role:user|assistant|system model:NAME")
    sr.add_argument("-w", "--workspace", help="only this workspace (name or id)")
    sr.add_argument("--json", action="store_true", help="one JSON array of hits")
    sr.add_argument("-n", type=_positive, default=20, help="at most N hits (default 20)")
    lg = sub.add_parser("logs", help="print the error or audit log")
    group = lg.add_mutually_exclusive_group()
    group.add_argument("--errors", action="store_true", help="the error log (default)")
    group.add_argument("--audit", action="store_true", help="the audit log of every stream")
    lg.add_argument("-n", type=_positive, default=50, help="last N records")
    sub.add_parser("doctor", help="check config, folders and providers")
    for command in sub.choices.values():
        command.add_argument("--raw", action="store_true",
                             help="write control characters as they are, even to a terminal "
                                  "(by default a terminal shows them as stand-ins such as ␛)")
    return p


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _paths(args: argparse.Namespace) -> Paths:
    paths = Paths.default(args.home)
    paths.ensure()
    return paths


def _load_config(paths: Paths):
    from muxtui import config as config_mod

    try:
        cfg = config_mod.load(paths.config_file)
    except config_mod.ConfigError as exc:
        print(f"muxtui: invalid config: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    for w in cfg.warnings:
        print(f"muxtui: warning: {w}", file=sys.stderr)
    return cfg


def _engine(paths: Paths, cfg):
    from muxtui.engine.logs import EventLog
    from muxtui.engine.manager import StreamManager
    from muxtui.engine.storage import Storage

    return StreamManager(cfg, Storage(paths.data_dir), EventLog(paths.log_dir))


def _guard_terminal() -> None:
    """Front stdout/stderr with the terminal-safe writer where they are terminals."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if is_terminal(stream) and not isinstance(stream, TerminalText):
            setattr(sys, name, TerminalText(stream))


def _unguard_terminal() -> None:
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, TerminalText):
            setattr(sys, name, stream.stream)
            try:
                stream.finish()
            except (OSError, ValueError):
                pass


def main(argv: list[str] | None = None) -> int:
    _guard_terminal()  # already for argparse's messages, which quote what was typed
    try:
        status = _main(argv)
    except BrokenPipeError:
        # `muxtui history | head`: the reader is gone; end like other command-line tools.
        _silence_stdout()
        status = EXIT_BROKEN_PIPE
    # Not on an exception: the traceback, which may quote model text, is shown inert too.
    _unguard_terminal()
    return status


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None or args.raw:
        _unguard_terminal()
    if args.command is None:
        from muxtui.ui.app import run_app

        return run_app(home=args.home)
    paths = _paths(args)
    if args.command == "doctor":
        return asyncio.run(_doctor(paths))
    cfg = _load_config(paths)
    handler = {
        "send": _send,
        "workspaces": _workspaces,
        "history": _history,
        "export": _export,
        "import": _import,
        "search": _search,
        "logs": _logs,
    }[args.command]
    try:
        return asyncio.run(handler(args, paths, cfg))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


async def _resolve(manager, name_or_id: str, create: bool = False, model: str | None = None):
    from muxtui.engine.storage import clean_name

    for info in await manager.list_workspaces():
        if info.id == name_or_id:
            return info
    name = clean_name(name_or_id)  # as it was stored: spaces squeezed, length bounded
    for info in await manager.list_workspaces():
        if info.name == name:
            return info
    if create:
        return await manager.create_workspace(name_or_id, model)
    print(f"muxtui: no workspace named or with id {name_or_id!r} (see `muxtui workspaces`)", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


async def _send(args, paths: Paths, cfg) -> int:
    from muxtui.engine import events as ev
    from muxtui.engine.storage import WorkspaceBusy

    text = " ".join(args.text)
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        print("muxtui: refusing to send an empty message", file=sys.stderr)
        return EXIT_USAGE
    manager = _engine(paths, cfg)
    info = await _resolve(manager, args.workspace, create=True, model=args.model)
    if args.model and args.model != info.model:
        try:
            info = await manager.set_model(info.id, args.model)
        except ValueError as exc:
            print(f"muxtui: {exc}", file=sys.stderr)
            return EXIT_USAGE
    await manager.open_workspace(info.id)
    outcome: dict[str, Any] = {}
    out = sys.stdout

    def on_event(event) -> None:
        if event.workspace != info.id:
            return
        if event.type == ev.STREAM_DELTA and "text" in event.data:
            if outcome.get("broken_pipe"):
                return
            try:
                out.write(event.data["text"])
                out.flush()
            except BrokenPipeError:
                # `muxtui send ... | head`: the reader is gone. Stop the stream (the text so far
                # is saved as interrupted) and stay quiet.
                outcome["broken_pipe"] = True
                _silence_stdout()
                stop()
        elif event.type == ev.STREAM_RETRYING:
            print(f"\n[retrying in {event.data['delay']:.1f} s: {event.data['error_type']}]", file=sys.stderr)
        elif event.type == ev.STREAM_FALLBACK:
            print(f"\n[falling back to {event.data['to_model']}]", file=sys.stderr)
        elif event.type in ev.STREAM_CLOSED:
            outcome["last"] = event

    manager.subscribe(on_event)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop(*_: Any) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop)
    try:
        try:
            await manager.send(info.id, text)
        except WorkspaceBusy as exc:
            print(f"muxtui: {exc}", file=sys.stderr)
            return EXIT_ERROR
        idle = asyncio.ensure_future(manager.wait_idle(info.id))
        stop_wait = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({idle, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.is_set() and not idle.done():
            await manager.interrupt(info.id)
            await idle
        stop_wait.cancel()
    finally:
        await manager.shutdown()
    if not outcome.get("broken_pipe"):
        try:
            out.write("\n")
            out.flush()
        except BrokenPipeError:
            outcome["broken_pipe"] = True
            _silence_stdout()
    if outcome.get("broken_pipe"):
        return EXIT_BROKEN_PIPE
    event = outcome.get("last")
    if event is None:
        return EXIT_ERROR
    message = event.data["message"]
    if event.type == ev.STREAM_INTERRUPTED:
        print("muxtui: interrupted (the reply so far is saved)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if event.type == ev.STREAM_ERROR:
        print(f"muxtui: error: {message.get('error_type')}: {message.get('error')}", file=sys.stderr)
        return EXIT_ERROR
    return 0


async def _workspaces(args, paths: Paths, cfg) -> int:
    manager = _engine(paths, cfg)
    for info in await manager.list_workspaces():
        when = _when(info.last_activity or info.created_at)
        print(f"{info.id}  {when}  {info.model:<28}  {info.name}")
    return 0


async def _history(args, paths: Paths, cfg) -> int:
    manager = _engine(paths, cfg)
    info = await _resolve(manager, args.workspace)
    ws = await manager.open_workspace(info.id)
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
        if m.get("status") == "error":
            print(f"[error: {m.get('error_type')}: {m.get('error')}]")
    for q in ws.queue:
        print(f"--- queued: {q['text']}")
    return 0


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "unknown time"  # missing or damaged on disk (storage has warned)
    try:
        return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError, OSError):
        return "unknown time"


def export_markdown(ws) -> str:
    lines = [f"# {ws.info.name}", "", f"Model: `{ws.info.model}`", ""]
    for m in ws.messages:
        when = _when(m.get("created_at"))
        if m["role"] == "user":
            lines += [f"## You · {when}", "", m.get("content", ""), ""]
        else:
            status = "" if m.get("status") == "complete" else f" · {m.get('status')}"
            lines += [f"## {m.get('model')} · {when}{status}", ""]
            if m.get("reasoning"):
                lines += ["<details><summary>Reasoning</summary>", "", m["reasoning"], "", "</details>", ""]
            lines += [m.get("content", ""), ""]
            if m.get("status") == "error":
                lines += [f"> **Error** ({m.get('error_type')}): {m.get('error')}", ""]
    return "\n".join(lines)


async def _export(args, paths: Paths, cfg) -> int:
    manager = _engine(paths, cfg)
    info = await _resolve(manager, args.workspace)
    ws = await manager.open_workspace(info.id)
    if args.format == "json":
        from muxtui.engine.transfer import export_json

        text = export_json(ws.info, ws.messages)
    else:
        text = export_markdown(ws)
    # In slices: when the reader goes away during one big write, Python reports the short write
    # as success and drops the rest; the next slice then meets the closed pipe and says so.
    for start in range(0, len(text), 16384):
        sys.stdout.write(text[start:start + 16384])
    return 0


async def _import(args, paths: Paths, cfg) -> int:
    from muxtui.engine.storage import Storage
    from muxtui.engine.transfer import ImportError_, import_workspace

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
        info = await asyncio.to_thread(import_workspace, Storage(paths.data_dir), data, args.workspace,
                                       cfg.default_model)
    except ImportError_ as exc:
        print(f"muxtui: cannot import {args.file}: {exc}; nothing imported", file=sys.stderr)
        return EXIT_USAGE
    print(f"imported into workspace {info.name!r} ({info.id})")
    return 0


async def _search(args, paths: Paths, cfg) -> int:
    from muxtui.engine.search import SearchIndex, split_snippet

    ws_id = None
    if args.workspace:
        manager = _engine(paths, cfg)
        ws_id = (await _resolve(manager, args.workspace)).id
    index = SearchIndex(paths.data_dir)

    def run():
        import sqlite3

        try:
            index.sync_all()  # cheap when current: one stat per workspace
        except sqlite3.OperationalError as exc:  # e.g. the app's indexer holds it for long
            print(f"muxtui: warning: search index not updated ({exc}); results may be incomplete",
                  file=sys.stderr)
        index.close()
        return index.search(" ".join(args.query), limit=args.n, workspace=ws_id)

    hits = await asyncio.to_thread(run)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return 0
    for h in hits:
        text, _spans = split_snippet(h.snippet)
        who = h.role if h.role != "assistant" else (h.model or "assistant")
        print(f"{h.workspace_name} #{h.seq} · {who} · {_when(h.created_at)}")
        print("  " + " ".join(text.split()))
    if not hits:
        print("no matches", file=sys.stderr)
    return 0


async def _logs(args, paths: Paths, cfg) -> int:
    from muxtui.engine.logs import EventLog

    log = EventLog(paths.log_dir)
    records = log.audit(args.n) if args.audit else log.errors(args.n)
    for rec in records:
        print(json.dumps(rec, ensure_ascii=False))
    return 0


async def _doctor(paths: Paths) -> int:
    import httpx

    from muxtui import config as config_mod
    from muxtui.engine.logs import Redactor
    from muxtui.engine.redact import configured_secrets, redact_url

    ok = True
    print(f"config: {paths.config_file} ({'present' if paths.config_file.exists() else 'absent: defaults in use'})")
    print(f"data:   {paths.data_dir}")
    print(f"logs:   {paths.log_dir}")
    try:
        cfg = config_mod.load(paths.config_file)
    except config_mod.ConfigError as exc:
        print(f"config: INVALID: {exc}")
        return EXIT_ERROR
    for w in cfg.warnings:
        print(f"warning: {w}")
    print(f"default model: {cfg.default_model}")
    redact = Redactor(configured_secrets(cfg, min_len=4))
    for pc in cfg.providers.values():
        if pc.type == "demo":
            print(f"provider {pc.name}: demo (offline) ok")
            continue
        key = pc.resolve_key()
        if pc.needs_key and not key:
            print(f"provider {pc.name}: no key (set {pc.api_key_env}) — skipped")
            continue
        url = pc.base_url.rstrip("/") + ("/models" if pc.type == "openai" else "/v1/models")
        headers = {}
        if key:
            headers = {"Authorization": f"Bearer {key}"} if pc.type == "openai" else {
                "x-api-key": key, "anthropic-version": "2023-06-01"}
        try:
            async with httpx.AsyncClient(timeout=cfg.stream.connect_timeout) as client:
                r = await client.get(url, headers=headers)
            state = "ok" if r.status_code < 400 else f"HTTP {r.status_code}"
            ok = ok and r.status_code < 400
        except Exception as exc:  # httpx errors, and e.g. idna errors for odd host names
            state = f"unreachable ({type(exc).__name__}: {exc})"
            ok = False
        print(f"provider {pc.name}: {redact_url(pc.base_url)} {redact(state)}")
    return 0 if ok else EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
