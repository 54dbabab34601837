"""The `muxtui` command: the app by default, plus send / workspaces / history / export / logs / models / doctor.

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
import shutil
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from muxtui import __version__
from muxtui import serve
from muxtui.paths import Paths
from muxtui.humanize import ago
from muxtui.safetext import TerminalText, is_terminal

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shell tools do
SAVE_WAIT = 10.0  # how long `send` waits for a full disk to take the reply (MUXTUI_SAVE_WAIT)


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
    s.add_argument("--wait", action="store_true",
                   help="rate limited with a long Retry-After: wait (counting down on stderr) and retry")
    s.add_argument("text", nargs="+", help="the message ('-' reads stdin; one trailing newline is dropped)")

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
    lg.add_argument("--json", action="store_true", help="one JSON record per line instead of a table")
    sub.add_parser("doctor", help="check config, folders and providers")
    md = sub.add_parser("models", help="list the models each provider offers (configured first, then the server's)")
    md.add_argument("provider", nargs="?", help="only this provider")
    md.add_argument("--json", action="store_true", help="print one JSON document")
    md.add_argument("--refresh", action="store_true", help="ask the servers now, not the cache")
    r = sub.add_parser("restore", help="list deleted workspaces, or bring one back from the trash")
    r.add_argument("workspace", nargs="?", help="name or id of a deleted workspace (none: list the trash)")
    serve.add_parser(sub)
    for command in sub.choices.values():
        command.add_argument("--raw", action="store_true",
                             help="write control characters as they are, even to a terminal "
                                  "(by default a terminal shows them as stand-ins such as ␛)")
    return p


def _save_wait() -> float:
    try:
        return max(0.0, float(os.environ.get("MUXTUI_SAVE_WAIT", SAVE_WAIT)))
    except ValueError:
        return SAVE_WAIT


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
    if args.command == "serve":
        return serve.run(args, paths)
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
        "models": _models,
        "restore": _restore,
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

    text = _message_text(args.text)
    if not text.strip():
        print("muxtui: refusing to send an empty message", file=sys.stderr)
        return EXIT_USAGE
    problem = _model_problem(cfg, args.model)
    if problem:  # before anything is created or changed
        print(f"muxtui: {problem}", file=sys.stderr)
        return EXIT_USAGE
    manager = _engine(paths, cfg)
    known = {i.id for i in await manager.list_workspaces()}
    info = await _resolve(manager, args.workspace, create=True, model=args.model)
    created = info.id not in known
    previous_model = info.model
    if args.model and args.model != info.model:
        try:
            info = await manager.set_model(info.id, args.model)
        except ValueError as exc:
            print(f"muxtui: {exc}", file=sys.stderr)
            return EXIT_USAGE
    await manager.open_workspace(info.id)
    outcome: dict[str, Any] = {"line_open": False}
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
                outcome["line_open"] = not event.data["text"].endswith("\n")
            except BrokenPipeError:
                # `muxtui send ... | head`: the reader is gone. Stop the stream (the text so far
                # is saved as interrupted) and stay quiet.
                outcome["broken_pipe"] = True
                _silence_stdout()
                stop()
        elif event.type == ev.STREAM_RETRYING:
            print(f"{_break(outcome)}[retrying in {event.data['delay']:.1f} s: {event.data['error_type']}]",
                  file=sys.stderr)
        elif event.type == ev.STREAM_FALLBACK:
            print(f"{_break(outcome)}[falling back to {event.data['to_model']}]", file=sys.stderr)
        elif event.type in ev.STREAM_CLOSED:
            outcome["last"] = event
        elif event.type == ev.MESSAGE_SAVED:
            outcome["saved"] = event

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
        waits_left = max(1, cfg.stream.retry_attempts)  # --wait retries at most this often
        while True:
            idle = asyncio.ensure_future(manager.wait_idle(info.id))
            stop_wait = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({idle, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if stopping.is_set() and not idle.done():
                await manager.interrupt(info.id)
                await idle
            retry_at = _rate_limited_until(outcome.get("last"))
            if not args.wait or retry_at is None or stopping.is_set() or waits_left <= 0:
                break
            waits_left -= 1
            reason = outcome["last"].data["message"].get("error_type") or "error"
            if not await _wait_for_retry(retry_at, reason, stopping, _break(outcome)):
                outcome["stopped_waiting"] = True
                break
            outcome.pop("last", None)
            try:
                await manager.retry(info.id)
            except WorkspaceBusy as exc:
                print(f"muxtui: {exc}", file=sys.stderr)
                return EXIT_ERROR
        if manager.has_unsaved():  # a reply (or only a log record) the disk refused
            wait = _save_wait()
            if manager.unsaved():
                print(f"\nmuxtui: the disk refused the reply (full?): retrying for up to {wait:g} s", file=sys.stderr)
            else:
                wait = min(wait, 1.0)  # only audit records: not worth a long silent wait
            outcome["unsaved"] = await manager.flush_unsaved(wait)
            manager.shutdown_save_wait = 0.0  # tried just now
        note = await _undo_model_not_found(manager, info, outcome.get("last"), created, previous_model)
    finally:
        await manager.shutdown()
    if outcome["line_open"] and not outcome.get("broken_pipe"):
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
    if outcome.get("unsaved"):
        store = manager.storage.store(info.id)
        kept = ("; the part saved while it streamed is recovered from partial.json by the next muxtui command"
                if store.partial.exists() else "")
        print(f"muxtui: error: write_failed: {message.get('error')}: the reply ({len(message.get('content') or ''):,} "
              f"characters, printed above) is not in the history; free some disk space{kept}", file=sys.stderr)
        return EXIT_ERROR
    saved = outcome.get("saved")
    if saved is not None and saved.data["message"].get("id") == message.get("id"):
        message = saved.data["message"]  # what is on disk now, with its real status
        print("muxtui: the reply was saved once the disk had room again", file=sys.stderr)
    if message.get("status") == "interrupted":
        print("muxtui: interrupted (the reply so far is saved)", file=sys.stderr)
        return EXIT_INTERRUPTED
    if message.get("status") == "error":
        print(f"muxtui: {_error_line(message)}", file=sys.stderr)
        if note:
            print(f"muxtui: {note}", file=sys.stderr)
        return EXIT_INTERRUPTED if outcome.get("stopped_waiting") else EXIT_ERROR
    return 0


def _message_text(words: list[str]) -> str:
    """The message from the arguments, or stdin for '-' without the newline that ends its last
    line (`echo hi | muxtui send -` sends "hi"; other trailing blank lines were typed on purpose)."""
    text = " ".join(words)
    if text != "-":
        return text
    text = sys.stdin.read()
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def _model_problem(cfg, model: str | None) -> str | None:
    from muxtui import config as config_mod

    return config_mod.model_problem(cfg, model) if model else None


def _break(outcome: dict[str, Any]) -> str:
    """A newline before a notice on stderr only when a reply line is still open on stdout."""
    return "\n" if outcome.get("line_open") else ""


def _rate_limited_until(event) -> float | None:
    """`retry_at` of a turn that ended because the provider asked to wait (a long Retry-After)."""
    if event is None or event.type != "stream.error":
        return None
    retry_at = event.data["message"].get("retry_at")
    return float(retry_at) if isinstance(retry_at, (int, float)) else None


def _error_line(message: dict[str, Any]) -> str:
    from muxtui.engine.errors import wait_text

    line = f"error: {message.get('error_type')}: {message.get('error')}"
    retry_at = message.get("retry_at")
    if not isinstance(retry_at, (int, float)):
        return line
    when = f"{wait_text(retry_at - time.time())} (at {datetime.fromtimestamp(retry_at).strftime('%H:%M:%S')}; " \
           "--wait waits and retries)"
    if message.get("error_type") == "rate_limit":
        return f"rate limited, retry in {when}: {message.get('error')}"
    return f"{line}; retry in {when}"


async def _wait_for_retry(retry_at: float, reason: str, stopping: asyncio.Event, lead: str) -> bool:
    """`send --wait`: count down to `retry_at` on stderr (one update a second on a terminal, two
    lines otherwise). False if a signal stopped the wait."""
    from muxtui.engine.errors import countdown, wait_text

    err = sys.stderr
    tty = err.isatty()
    reason = "rate limited" if reason == "rate_limit" else reason
    when = datetime.fromtimestamp(retry_at).strftime("%H:%M:%S")
    if not tty:
        print(f"{lead}muxtui: {reason}; waiting {wait_text(retry_at - time.time())} (until {when}) "
              "as --wait asks", file=err)
    elif lead:
        err.write(lead)
    shown = ""
    while (left := retry_at - time.time()) > 0:  # each turn sleeps until the next whole second
        if tty:
            line = f"\rmuxtui: {reason}; retrying in {countdown(left)} at {when} (ctrl+c stops) "
            err.write(line + " " * max(0, len(shown) - len(line)))
            err.flush()
            shown = line
        step = left - int(left) or 1.0
        try:
            await asyncio.wait_for(stopping.wait(), max(0.01, step))
        except TimeoutError:
            continue
        if tty:
            err.write("\n")
        return False
    if tty and shown:
        err.write("\r" + " " * len(shown) + "\r")
    print("muxtui: retrying now", file=err)
    return True


async def _undo_model_not_found(manager, info, event, created: bool, previous_model: str) -> str | None:
    """The server does not know the model: a workspace this command created is not left behind
    (it goes to the trash), and an existing one gets its model back."""
    if event is None or event.type != "stream.error":
        return None
    if event.data["message"].get("error_type") != "model_not_found":
        return None
    try:
        if created:
            await manager.delete_workspace(info.id)
            return f"the new workspace '{info.name}' was not kept (moved to the trash)"
        if manager.workspace(info.id).info.model != previous_model:
            await manager.set_model(info.id, previous_model)
            return f"workspace '{info.name}' keeps its model {previous_model}"
    except (KeyError, OSError, ValueError) as exc:
        return f"could not undo the workspace change: {exc}"
    return None


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
    if args.json:
        for rec in records:
            print(json.dumps(rec, ensure_ascii=False))
        return 0
    if not records:
        name = log.audit_file if args.audit else log.errors_file
        print(f"muxtui: nothing logged yet ({name})", file=sys.stderr)
        return 0
    from muxtui.engine.storage import Storage

    try:
        names = {i.id: i.name for i in Storage(paths.data_dir).list_workspaces()}
    except OSError:
        names = {}
    width = shutil.get_terminal_size((100, 24)).columns
    sys.stdout.write("".join(line + "\n" for line in log_table(records, names, width)))
    return 0


async def _models(args, paths: Paths, cfg) -> int:
    """`muxtui models [PROVIDER] [--json] [--refresh]`: configured models first, then the server's."""
    from muxtui.config import split_model
    from muxtui.engine.catalog import LISTABLE_TYPES, ModelCatalog

    catalog = ModelCatalog(cfg, paths.data_dir / "cache")
    names = catalog.providers()
    if args.provider:
        if args.provider not in cfg.providers:
            print(f"muxtui: no provider {args.provider!r} (configured: {', '.join(names)})", file=sys.stderr)
            return EXIT_USAGE
        names = [args.provider]
    lists = await catalog.fetch_all(names, refresh=args.refresh)
    now = time.time()
    report = []
    for sm in lists:
        pc = cfg.providers[sm.provider]
        configured = [m for m in cfg.models() if split_model(m)[0] == sm.provider]
        server = [f"{sm.provider}:{m}" for m in sm.models]
        if pc.type not in LISTABLE_TYPES:
            why = "configured models only"
        elif not catalog.can_list(sm.provider):
            why = f"no key (set {pc.api_key_env})"
        else:
            why = sm.error
        report.append({"name": sm.provider, "type": pc.type, "models": list(dict.fromkeys(configured + server)),
                       "configured": configured, "server": server, "fetched_at": sm.fetched_at,
                       "checked_at": sm.checked_at, "supported": sm.supported, "note": why})
    if args.json:
        print(json.dumps({"providers": report}, ensure_ascii=False, indent=1))
        return 0
    for entry in report:
        head = f"# {entry['name']} ({entry['type']})"
        if entry["server"]:
            head += f": {len(entry['server'])} from the server"
            if entry["fetched_at"]:
                head += f", fetched {ago(now - entry['fetched_at'])}"
        if entry["note"]:
            head += (": " if not entry["server"] else "; ") + entry["note"]
            if not entry["server"] and entry["type"] in LISTABLE_TYPES:
                head += " (configured models only)"
        print(head)
        for model in entry["models"]:
            print(model + ("  (configured)" if model in entry["configured"] else ""))
    return 0


async def _restore(args, paths: Paths, cfg) -> int:
    """`muxtui restore`: list the trash; `muxtui restore NAME`: move that workspace back."""
    from muxtui.engine import trash
    from muxtui.engine.storage import Storage, StorageError

    storage = Storage(paths.data_dir)
    trash.purge(storage)
    if not args.workspace:
        entries = trash.list_trash(storage)
        if not entries:
            print(f"the trash is empty (deleted workspaces are kept {trash.KEEP_DAYS} days)")
        for t in entries:
            when = datetime.fromtimestamp(t.deleted_at).strftime("%Y-%m-%d %H:%M")
            print(f"{t.id}  deleted {when}  {t.model:<28}  {t.name}")
        return 0
    entry = trash.find(storage, args.workspace)
    if entry is None:
        print(f"muxtui: no deleted workspace {args.workspace!r} (`muxtui restore` lists them)", file=sys.stderr)
        return EXIT_ERROR
    try:
        info = await asyncio.to_thread(trash.restore, storage, entry)
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
    for problem in cfg.key_errors:
        print(f"keys: REFUSED: {problem}")
        ok = False
    print(f"default model: {cfg.default_model}")
    redact = Redactor(configured_secrets(cfg, min_len=4))
    for pc in cfg.providers.values():
        if pc.type == "demo":
            print(f"provider {pc.name}: demo (offline) ok")
            continue
        key = pc.resolve_key()
        if pc.needs_key and not key:
            print(f"provider {pc.name}: no key (set {pc.api_key_env}) — skipped")
            await _doctor_features(pc, paths, cfg)
            continue
        openai_like = pc.type in ("openai", "openai-responses")
        url = pc.base_url.rstrip("/") + ("/models" if openai_like else "/v1/models")
        headers = {}
        if key:
            headers = {"Authorization": f"Bearer {key}"} if openai_like else {
                "x-api-key": key, "anthropic-version": "2023-06-01"}
        try:
            async with httpx.AsyncClient(timeout=cfg.stream.connect_timeout) as client:
                r = await client.get(url, headers=headers)
            # A server without a models endpoint is reachable and fine: chat works without it.
            fine = r.status_code < 400 or r.status_code in (404, 405, 501)
            state = "ok" if r.status_code < 400 else "ok (no models endpoint)" if fine else f"HTTP {r.status_code}"
            ok = ok and fine
        except Exception as exc:  # httpx errors, and e.g. idna errors for odd host names
            state = f"unreachable ({type(exc).__name__}: {exc})"
            ok = False
        print(f"provider {pc.name}: {redact_url(pc.base_url)} {redact(state)}")
        await _doctor_features(pc, paths, cfg)
    return 0 if ok else EXIT_ERROR


async def _doctor_features(pc, paths: Paths, cfg) -> None:
    """Per provider: what its server was seen to support. The models endpoint is asked now;
    the rest comes from the provider's recent replies (engine.features), never guessed."""
    from muxtui.engine.catalog import LISTABLE_TYPES, ModelCatalog
    from muxtui.engine.features import FEATURES, load_features

    cache = paths.data_dir / "cache"
    catalog = ModelCatalog(cfg, cache)
    if pc.type not in LISTABLE_TYPES:
        models = "not probed (this provider type has no models endpoint)"
    elif not catalog.can_list(pc.name):
        models = "not probed (no key)"
    else:
        sm = await catalog.fetch(pc.name, refresh=True)
        if sm.supported:
            models = f"yes ({len(sm.models)} models)"
        elif sm.supported is False:
            models = f"no: {sm.error}; the picker shows the configured models"
        else:
            models = f"not probed: {sm.error}"
    print(f"  models endpoint: {models}")
    record = load_features(cache, pc.name) or {}
    replies = record.get("replies") or 0
    seen = record.get("seen") or {}
    now = time.time()
    for name, label in FEATURES.items():
        when = seen.get(name)
        if isinstance(when, (int, float)):
            text = f"yes (seen {ago(now - when)})"
        elif replies:
            text = f"not seen in {replies} repl{'y' if replies == 1 else 'ies'}"
        else:
            text = "not probed (no reply yet)"
        print(f"  {label}: {text}")
    last = record.get("last_error")
    if isinstance(last, dict) and isinstance(last.get("at"), (int, float)):
        print(f"  last error: {last.get('type')} ({ago(now - last['at'])})")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
