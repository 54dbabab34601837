"""The app's life with its engine: attaching to the engine host (or not), signals, quitting
and shutting down, and what a lost or replaced engine means for the screen.

``AppLifecycle`` is mixed into ``MuxApp``. Quitting while replies stream asks, embedded, whether
to stop them (they are saved as interrupted); attached to the engine host, whether to leave them
running (the default), stop them all, or cancel. A hangup or SIGTERM shuts down as quitting does,
without asking: embedded, replies are saved as interrupted; attached, they go on in the engine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING

from rich.text import Text

from muxtui.ui.safe import one_line
from muxtui.ui.screens import ConfirmScreen, QuitScreen

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp

log = logging.getLogger("muxtui.ui")


class AppLifecycle:
    """See the module docstring."""

    def _install_signal_handlers(self: MuxApp) -> None:
        try:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._signals.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
            pass

    def _on_signal(self: MuxApp, sig: int) -> None:
        log.info("signal %s: committing partial replies and exiting", sig)
        # If anything below blocks (a dead terminal, a stuck write), still exit: the partials
        # are committed first, which is what matters.
        if self.standalone:
            watchdog = threading.Timer(10.0, os._exit, args=(128 + sig,))
            watchdog.daemon = True
            watchdog.start()
        self.call_later(self._exit_on_signal, sig)

    async def _exit_on_signal(self: MuxApp, sig: int) -> None:
        await self._shutdown_engine()
        if sig == signal.SIGHUP and self.standalone:
            # The terminal is gone (SSH dropped, tmux killed): restoring it would block forever
            # writing to a dead pty, leaving an orphan process. Everything is saved: leave now.
            logging.shutdown()
            os._exit(128 + sig)
        self.exit(0)

    # ---- shutting down ----------------------------------------------------------------------
    async def shutdown_and_exit(self: MuxApp, code: int = 0) -> None:
        """Commit every partial reply as interrupted, save drafts, then exit."""
        if self._shutting_down:
            return
        await self._shutdown_engine()
        self.exit(code)

    async def _shutdown_engine(self: MuxApp) -> None:
        if self._shutting_down:
            return
        self._shutting_down = True
        self._remember_draft()
        await self._save_ui_now()
        await self._save_theme()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        try:
            await self.engine.close()
        except Exception:
            log.exception("engine shutdown failed")

    async def on_unmount(self: MuxApp) -> None:
        await self._shutdown_engine()
        try:
            loop = asyncio.get_running_loop()
            for sig in self._signals:
                loop.remove_signal_handler(sig)
        except (RuntimeError, ValueError):
            pass

    async def action_quit(self: MuxApp) -> None:
        if self.engine.embedded and await self._ask_quit_unsaved():
            return  # (an engine host keeps and retries what the disk refused, whoever quits)
        streaming = [s for s in self.tracker.states() if s.streaming]
        if not streaming:
            await self.shutdown_and_exit()
            return
        names = ", ".join(one_line(s.name, 30) for s in streaming[:5])
        n = len(streaming)
        if not self.engine.embedded:
            async def choose(choice: str | None) -> None:
                if choice == "stop":
                    await self.engine.stop_streams()
                if choice in ("leave", "stop"):
                    await self.shutdown_and_exit()

            self.push_screen(QuitScreen(f"{n} {'reply is' if n == 1 else 'replies are'} streaming ({names})."),
                             choose)
            return

        async def answer(yes: bool | None) -> None:
            if yes:
                await self.shutdown_and_exit()

        self.push_screen(ConfirmScreen(
            f"{n} {'reply is' if n == 1 else 'replies are'} still streaming ({names}). Quit?",
            "What arrived so far is saved as interrupted (ctrl+r regenerates it later).", title="quit"), answer)

    async def _ask_quit_unsaved(self: MuxApp) -> bool:
        """Text the disk refused (full): wait a moment for the save loop, then ask. True if asked."""
        unsaved = await self.engine.unsaved(wait=1.0)
        if not unsaved:
            return False
        n = len(unsaved)
        size = sum(len(m.get("content") or "") for m in unsaved)

        async def answer(yes: bool | None) -> None:
            if yes:
                await self.shutdown_and_exit()

        self.push_screen(ConfirmScreen(
            f"{n} {'reply is' if n == 1 else 'replies are'} not saved yet ({size:,} characters): the disk refused "
            "the write (full?). Quit and lose it?",
            "Saving is retried every few seconds: free some disk space and it is written, then quit. "
            "n / esc keeps muxtui open.", title="quit"), answer)
        return True

    # ---- the engine host: attach, lose the link, reload --------------------------------------
    async def _attach_engine(self: MuxApp) -> bool:
        """Connect to the engine host (starting one if none runs); False (and exit) if impossible."""
        if self.engine.embedded:
            return True
        self.engine.set_on_link(self._on_link)
        self.engine.on_reset = lambda: self.call_later(self.reload_from_engine)
        try:
            await self.engine.attach()
        except Exception as exc:  # cannot start or reach it: say why and how to go without
            self.exit(1, return_code=1, message=Text(
                f"muxtui: cannot reach or start the muxtui engine: {exc}\n"
                "Run `muxtui --no-engine` to run without it (replies then stop when muxtui quits), "
                "or see `muxtui engine status` and the log under the state folder."))
            return False
        return True

    def _on_link(self: MuxApp, state: str) -> None:
        messages = {
            "lost": ("the connection to the muxtui engine dropped: reconnecting…", "warning"),
            "restored": ("reconnected to the muxtui engine", "information"),
            "replaced": ("the muxtui engine had stopped: a new one is running (replies in flight were saved "
                         "as interrupted); reattached", "warning"),
            "failed": ("cannot reconnect to the muxtui engine: quit and run muxtui again, or "
                       "`muxtui --no-engine`", "error"),
        }
        text, severity = messages.get(state, (f"the muxtui engine stopped ({state.partition(':')[2] or state})",
                                              "error"))
        if not self._shutting_down:
            self.notify(text, severity=severity, markup=False)  # type: ignore[arg-type]

    async def reload_from_engine(self: MuxApp) -> None:
        """After a new engine (the old one died) or a gap too old to replay: list, badge and show
        everything again from the engine (what is typed in the composer stays)."""
        if self._shutting_down:
            return
        try:
            infos = await self.engine.list_workspaces()
        except Exception as exc:
            log.warning("reload after reconnect failed: %s", exc)
            return
        listed = {i.id for i in infos}
        for info in infos:
            self.tracker.add(info)
        for ws_id in self.tracker.ids():
            if ws_id not in listed:
                self.tracker.forget(ws_id)
        self.run_worker(self._seed_badges(list(listed)), group="seed", name="seed-after-reload")
        current = self.current_id if self.current_id in listed else next(iter(listed), None)
        self.bridge.view = None
        if current is not None:
            if current != self.current_id:
                await self.select_workspace(current)
            else:
                await self.bridge.show(current)
