"""`muxtui send`: one message, the reply streamed to stdout; waits, retries and a full disk."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from datetime import datetime
from typing import Any

from muxtui.cli.common import (EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, _engine, _resolve,
                               _save_wait, silence_stdout)
from muxtui.client import WorkspaceBusy, countdown, events as ev, wait_text
from muxtui.client.attachments import AttachmentError, read_attachment, upload
from muxtui.paths import Paths

CLOSE_EVENT_WAIT = 10.0  # s: how long the close event may trail wait_idle's answer

async def _send(args, paths: Paths, cfg) -> int:
    text = _message_text(args.text)
    files = []
    for path in args.attach:
        try:
            files.append(read_attachment(path, limits=cfg.attachments))
        except AttachmentError as exc:
            print(f"muxtui: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if not text.strip() and not files:
        print("muxtui: refusing to send an empty message", file=sys.stderr)
        return EXIT_USAGE
    problem = _model_problem(cfg, args.model)
    if problem:  # before anything is created or changed
        print(f"muxtui: {problem}", file=sys.stderr)
        return EXIT_USAGE
    engine = _engine(paths, cfg)
    known = {i.id for i in await engine.list_workspaces()}
    info = await _resolve(engine, args.workspace, create=True, model=args.model)
    created = info.id not in known
    previous_model = info.model
    if args.model and args.model != info.model:
        try:
            info = await engine.set_model(info.id, args.model)
        except ValueError as exc:
            print(f"muxtui: {exc}", file=sys.stderr)
            return EXIT_USAGE
    await engine.open_workspace(info.id)
    outcome: dict[str, Any] = {"line_open": False}
    out = sys.stdout

    def on_event(event) -> None:
        if event.workspace != info.id:
            return
        if type(event) is ev.StreamDelta and event.text:
            if outcome.get("broken_pipe"):
                return
            try:
                out.write(event.text)
                out.flush()
                outcome["line_open"] = not event.text.endswith("\n")
            except BrokenPipeError:
                # `muxtui send ... | head`: the reader is gone. Stop the stream (the text so far
                # is saved as interrupted) and stay quiet.
                outcome["broken_pipe"] = True
                silence_stdout()
                stop()
        elif event.type == ev.STREAM_RETRYING:
            print(f"{_break(outcome)}[retrying in {event.delay:.1f} s: {event.error_type}]",
                  file=sys.stderr)
        elif event.type == ev.STREAM_FALLBACK:
            print(f"{_break(outcome)}[falling back to {event.to_model}]", file=sys.stderr)
        elif event.type in ev.STREAM_CLOSED:
            outcome["last"] = event
            closed.set()
        elif event.type == ev.MESSAGE_SAVED:
            outcome["saved"] = event

    closed = asyncio.Event()  # the turn's close event has arrived
    engine.subscribe(on_event)
    save_wait: float | None = None
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop(*_: Any) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop)
    try:
        try:
            refs = [await upload(engine, f) for f in files]
            if refs:
                await engine.send(info.id, text, attachments=refs)
            else:
                await engine.send(info.id, text)
        except WorkspaceBusy as exc:
            print(f"muxtui: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except ValueError as exc:  # an attachment the engine refused (limit, a model without images)
            print(f"muxtui: {exc}", file=sys.stderr)
            return EXIT_USAGE
        waits_left = max(1, cfg.stream.retry_attempts)  # --wait retries at most this often
        while True:
            idle = asyncio.ensure_future(engine.wait_idle(info.id))
            stop_wait = asyncio.ensure_future(stopping.wait())
            await asyncio.wait({idle, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            if stopping.is_set() and not idle.done():
                await engine.interrupt(info.id)
                await idle
            if not closed.is_set():
                # Through an engine host the close event may arrive just after wait_idle's
                # answer (events travel in batches): wait for it, bounded.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), CLOSE_EVENT_WAIT)
            closed.clear()
            retry_at = _rate_limited_until(outcome.get("last"))
            if not args.wait or retry_at is None or stopping.is_set() or waits_left <= 0:
                break
            waits_left -= 1
            reason = outcome["last"].message.get("error_type") or "error"
            if not await _wait_for_retry(retry_at, reason, stopping, _break(outcome)):
                outcome["stopped_waiting"] = True
                break
            outcome.pop("last", None)
            try:
                await engine.retry(info.id)
            except WorkspaceBusy as exc:
                print(f"muxtui: {exc}", file=sys.stderr)
                return EXIT_ERROR
        pending = await engine.pending_writes()
        if pending["any"]:  # a reply (or only a log record) the disk refused
            wait = _save_wait()
            if pending["replies"]:
                print(f"\nmuxtui: the disk refused the reply (full?): retrying for up to {wait:g} s", file=sys.stderr)
            else:
                wait = min(wait, 1.0)  # only audit records: not worth a long silent wait
            outcome["unsaved"] = await engine.unsaved(wait)
            save_wait = 0.0  # tried just now
            if outcome["unsaved"]:
                outcome["partial_left"] = await engine.has_partial(info.id)
        note = await _undo_model_not_found(engine, info, outcome.get("last"), created, previous_model)
    finally:
        await engine.close(save_wait)
    if outcome["line_open"] and not outcome.get("broken_pipe"):
        try:
            out.write("\n")
            out.flush()
        except BrokenPipeError:
            outcome["broken_pipe"] = True
            silence_stdout()
    if outcome.get("broken_pipe"):
        return EXIT_BROKEN_PIPE
    event = outcome.get("last")
    if event is None:
        return EXIT_ERROR
    message = event.message
    if outcome.get("unsaved"):
        kept = ("; the part saved while it streamed is recovered from partial.json by the next muxtui command"
                if outcome.get("partial_left") else "")
        print(f"muxtui: error: write_failed: {message.get('error')}: the reply ({len(message.get('content') or ''):,} "
              f"characters, printed above) is not in the history; free some disk space{kept}", file=sys.stderr)
        return EXIT_ERROR
    saved = outcome.get("saved")
    if saved is not None and saved.message.get("id") == message.get("id"):
        message = saved.message  # what is on disk now, with its real status
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
    retry_at = event.message.get("retry_at")
    return float(retry_at) if isinstance(retry_at, (int, float)) else None


def _error_line(message: dict[str, Any]) -> str:
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


async def _undo_model_not_found(engine, info, event, created: bool, previous_model: str) -> str | None:
    """The server does not know the model: a workspace this command created is not left behind
    (it goes to the trash), and an existing one gets its model back."""
    if event is None or event.type != "stream.error":
        return None
    if event.message.get("error_type") != "model_not_found":
        return None
    try:
        if created:
            await engine.delete_workspace(info.id)
            return f"the new workspace '{info.name}' was not kept (moved to the trash)"
        current = next((i for i in await engine.list_workspaces() if i.id == info.id), None)
        if current is not None and current.model != previous_model:
            await engine.set_model(info.id, previous_model)
            return f"workspace '{info.name}' keeps its model {previous_model}"
    except (KeyError, OSError, ValueError) as exc:
        return f"could not undo the workspace change: {exc}"
    return None


