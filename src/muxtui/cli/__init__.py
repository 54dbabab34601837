"""The `muxtui` command: the app by default, plus send / workspaces / history / export / logs / models / doctor.

Output: everything a command prints goes through ``sys.stdout``/``sys.stderr``, which ``main``
fronts with ``muxtui.safetext.TerminalText`` when they are terminals, so model text, names and
error messages never drive the terminal (``--raw`` turns this off; a pipe or a file always gets
the exact text). A reader that closes the pipe ends any command quietly with status 141.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from muxtui import __version__
from muxtui.cli import common
from muxtui.cli.common import (EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, _guard_terminal, _load_config, _paths, _positive, _unguard_terminal, silence_stdout)

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="muxtui", description="Keyboard-driven terminal workspaces for LLM chat.")
    p.add_argument("--home", metavar="DIR", help="keep config, data and logs under DIR (like MUXTUI_HOME)")
    p.add_argument("--version", action="version", version=f"muxtui {__version__}")
    p.add_argument("--remote", metavar="USER@HOST",
                   help="the app here, the engine there: speaks to `muxtui engine --stdio` over ssh "
                        "(keys and the clipboard stay local; only events cross the link)")
    p.add_argument("--no-engine", action="store_true",
                   help="run the engine inside the app (no engine host): replies stop when the app quits")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("send", help="send a message and stream the reply to stdout")
    s.add_argument("-w", "--workspace", help="workspace name or id (created if missing)", default="cli")
    s.add_argument("-m", "--model", help='model as "provider:model"')
    s.add_argument("--wait", action="store_true",
                   help="rate limited with a long Retry-After: wait (counting down on stderr) and retry")
    s.add_argument("-a", "--attach", action="append", default=[], metavar="FILE",
                   help="attach a file (text, PNG/JPEG/GIF/WebP image, PDF); repeat for more")
    s.add_argument("text", nargs="*", help="the message ('-' reads stdin; one trailing newline is dropped)")

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
    from muxtui import serve
    from muxtui.host.command import add_parser as add_engine_parser

    add_engine_parser(sub)
    serve.add_parser(sub)
    for command in sub.choices.values():
        command.add_argument("--raw", action="store_true",
                             help="write control characters as they are, even to a terminal "
                                  "(by default a terminal shows them as stand-ins such as ␛)")
    return p


def main(argv: list[str] | None = None) -> int:
    _guard_terminal()  # already for argparse's messages, which quote what was typed
    try:
        status = _main(argv)
    except BrokenPipeError:
        # `muxtui history | head`: the reader is gone; end like other command-line tools.
        silence_stdout()
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

        return run_app(home=args.home, no_engine=args.no_engine, remote=args.remote)
    paths = _paths(args)
    common.NO_ENGINE = args.no_engine
    if args.command == "serve":
        from muxtui import serve

        return serve.run(args, paths)
    if args.command == "doctor":
        from muxtui.cli.diagnose import _doctor

        return asyncio.run(_doctor(paths))
    cfg = _load_config(paths)
    from muxtui.cli.data import _export, _history, _import, _logs, _restore, _search, _workspaces
    from muxtui.cli.diagnose import _doctor, _models
    from muxtui.cli.send import _send
    from muxtui.host.command import run as _engine_command

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
        "engine": _engine_command,
    }[args.command]
    from muxtui.host.remote import EngineGone

    try:
        return asyncio.run(handler(args, paths, cfg))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except EngineGone as exc:  # the engine host went away under this command
        print(f"muxtui: {exc} (`muxtui --no-engine {args.command} …` runs without it)", file=sys.stderr)
        return EXIT_ERROR


