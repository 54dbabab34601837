"""What every `muxtui` subcommand shares: exit codes, the data folder, the config, the engine,
finding a workspace by name or id, and the terminal-safe output."""

from __future__ import annotations

import argparse
import os
import sys

from typing import TYPE_CHECKING

from muxtui.paths import Paths
from muxtui.safetext import TerminalText, is_terminal

if TYPE_CHECKING:
    from muxtui.client import Engine

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shell tools do
SAVE_WAIT = 10.0  # how long `send` waits for a full disk to take the reply (MUXTUI_SAVE_WAIT)


def silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not raise on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except OSError:
        pass


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
    from muxtui import client  # noqa: F401 - registers the provider types the config is checked against
    from muxtui import config as config_mod

    try:
        cfg = config_mod.load(paths.config_file)
    except config_mod.ConfigError as exc:
        print(f"muxtui: invalid config: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    for w in cfg.warnings:
        print(f"muxtui: warning: {w}", file=sys.stderr)
    return cfg


NO_ENGINE = False  # `muxtui --no-engine COMMAND`: never use the engine host


def _engine(paths: Paths, cfg):
    """The engine for one command: the running engine host when there is one (its apps then see
    this command's sends live, and a reply goes on if this command is killed), else the engine
    in this process (no search indexer: `search` asks the index). A command never starts an
    engine host; the app does. The engine's code is imported only in the second case: a command
    served by the host pays for the socket client alone (start-up time)."""
    if not NO_ENGINE and cfg.engine.mode != "embedded" and engine_running(paths):
        from muxtui.host.attached import AttachedEngine

        return AttachedEngine(paths, spawn=False)
    from muxtui.client import Engine

    return Engine(paths, cfg, search=False)


def engine_running(paths: Paths) -> bool:
    """An engine host registered for these folders and its process alive (no connection made)."""
    from muxtui.host.paths import read_registration

    reg = read_registration(paths)
    pid = reg.get("pid") if reg else None
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's pid reused: not ours
        return False
    return True


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


async def _resolve(engine: Engine, name_or_id: str, create: bool = False, model: str | None = None):
    from muxtui.client import clean_name

    for info in await engine.list_workspaces():
        if info.id == name_or_id:
            return info
    name = clean_name(name_or_id)  # as it was stored: spaces squeezed, length bounded
    for info in await engine.list_workspaces():
        if info.name == name:
            return info
    if create:
        return await engine.create_workspace(name=name_or_id, model=model)
    print(f"muxtui: no workspace named or with id {name_or_id!r} (see `muxtui workspaces`)", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


