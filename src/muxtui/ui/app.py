"""The muxtui app: sidebar of workspaces, chat pane, composer; wired to the stream engine.

The app talks to the engine only through ``muxtui.client``: commands on ``self.engine`` and the
events it emits, which ``ui.bridge.EngineBridge`` turns into screen updates (see there). The
workspace on screen is a ``WorkspaceView`` (``self.view``), never an engine object.

* ``stream.delta`` never becomes a Textual message: the bridge buffers it and a paused frame
  timer flushes the buffer into the live reply at most ~30 times a second.
* Every other event updates the ``WorkspaceTracker`` (the badges' single source of truth) and is
  applied to the chat pane in order by the bridge's pump.
* The sidebar spinner has one app-level timer, resumed only while something streams.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from functools import partial
from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import TextArea

from muxtui import config as config_mod
from muxtui.config import Config
from muxtui.client import TRASH_KEEP_DAYS, Engine
from muxtui.paths import Paths
from muxtui.ui import conversation, persist, terminal_keys, terminal_output
from muxtui.ui.at_paths import AtPathCompleter, AtSuggestions
from muxtui.ui.attaching import AttachActions
from muxtui.ui.bridge import FRAME, EngineBridge, WorkspaceView
from muxtui.ui.context import ContextActions
from muxtui.ui.drafts import DraftStore
from muxtui.ui.footer import StableFooter
from muxtui.ui.frames import StableHeader
from muxtui.ui.lifecycle import AppLifecycle
from muxtui.ui.sending import SendingActions
from muxtui.ui.workspaces import FIRST_WORKSPACE, WorkspaceActions
from muxtui.ui.chat import ChatView, QueuedItem
from muxtui.ui.commands import MuxCommands, PaletteCommand
from muxtui.ui.composer import Composer
from muxtui.ui.navigation import MessageChatView
from muxtui.ui.safe import one_line
from muxtui.ui.screens import ConfirmScreen, ErrorsScreen, MainScreen
from muxtui.ui.sidebar import Sidebar
from muxtui.ui.state import WorkspaceState, WorkspaceTracker, short_model
from muxtui.ui.textual_private import app_keymap
from muxtui.ui.themes import DEFAULT_THEME, SHIPPED_DIR, load_themes, selection_colors

log = logging.getLogger("muxtui.ui")

SPINNER_INTERVAL = 1 / 8
WATCH_INTERVAL = 0.5  # how often the workspaces folder's mtime is compared (one stat call)

# Actions that only make sense on the main screen (not over a modal or the command palette).
MAIN_SCREEN_ACTIONS = frozenset({
    "new_workspace", "new_named_workspace", "interrupt", "previous_workspace", "next_workspace", "jump", "retry", "rename",
    "delete_workspace", "pick_model", "errors", "change_theme", "toggle_sidebar", "load_earlier",
    "scroll_chat", "dismiss_error", "restore_workspace", "search", "export_workspace", "find_in_workspace",
    "find_next", "attach",
}) | conversation.MAIN_SCREEN_ACTIONS


class MuxApp(AppLifecycle, WorkspaceActions, SendingActions, AttachActions, DraftStore,
             conversation.ConversationMixin, ContextActions, App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "muxtui"
    # -strip: the sidebar becomes a one-column badge strip; -short: no header, a lower composer
    HORIZONTAL_BREAKPOINTS = [(0, "-strip"), (70, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (12, "-tall")]
    COMMANDS = {MuxCommands}  # one provider (ours, which includes the system commands): a stable order
    BINDINGS = [
        # priority: the composer (a TextArea) would otherwise take ctrl+d, ctrl+e, ...
        Binding("ctrl+n", "new_workspace", "New", id="new-workspace", priority=True),
        Binding("escape", "interrupt", "Stop", id="interrupt", priority=True),
        Binding("alt+up", "previous_workspace", "Prev", id="previous-workspace", show=False, priority=True),
        Binding("alt+down", "next_workspace", "Next", id="next-workspace", show=False, priority=True),
        *[Binding(f"alt+{n}", f"jump({n})", f"Workspace {n}", id=f"jump-{n}", show=False, priority=True)
          for n in range(1, 10)],
        Binding("ctrl+r", "retry", "Retry", id="retry", priority=True),
        Binding("f2", "rename", "Rename", id="rename", show=False, priority=True),
        Binding("ctrl+d", "delete_workspace", "Delete", id="delete-workspace", show=False, priority=True),
        Binding("f6", "restore_workspace", "Restore", id="restore-workspace", show=False, priority=True),
        Binding("f8", "compact_retry", "Compact, retry", id="compact-retry", show=False, priority=True),
        Binding("ctrl+o", "pick_model", "Model", id="pick-model", priority=True),
        Binding("alt+a", "attach", "Attach", id="attach", show=False, priority=True),
        Binding("ctrl+e", "errors", "Errors", id="errors", priority=True),
        Binding("ctrl+f", "search", "Search", id="search", show=False, priority=True),
        Binding("f7", "find_in_workspace", "Find here", id="find-in-workspace", show=False, priority=True),
        Binding("ctrl+t", "change_theme", "Theme", id="theme", show=False, priority=True),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f3", "toggle_sidebar", "Sidebar", id="toggle-sidebar", show=False, priority=True),
        Binding("ctrl+home", "load_earlier", "Earlier", id="load-earlier", show=False, priority=True),
        Binding("pageup", "scroll_chat(-1)", "Page up", id="chat-page-up", show=False, priority=True),
        Binding("pagedown", "scroll_chat(1)", "Page down", id="chat-page-down", show=False, priority=True),
        *conversation.APP_BINDINGS,
    ]

    def __init__(self, paths: Paths, config: Config, *, clock=time.time, animate: bool = True,
                 tune_gc: bool = False, standalone: bool = False, engine=None) -> None:
        palette_key = config.keys.get("command-palette")
        if palette_key:
            self.COMMAND_PALETTE_BINDING = palette_key  # read by App.__init__; it has no binding id
        super().__init__()
        # Only the cells that change reach the terminal, and a slow one never blocks the loop.
        self.terminal_output = terminal_output.install(self)
        self.tune_gc = tune_gc
        # The real `muxtui` process (run_app): may leave with os._exit once everything is saved.
        # Never in an app embedded in another process (tests, benchmarks).
        self.standalone = standalone
        terminal_keys.install()
        self.paths = paths
        self.config = config
        self.clock = clock
        self.animated = animate
        paths.ensure()
        # The client API: the engine in this process (embedded), or an AttachedEngine when the
        # engine runs in the engine host (muxtui.host) and this app is one of its clients.
        self.engine = engine if engine is not None else Engine(paths, config)
        self.bridge = EngineBridge(self)
        self.tracker = WorkspaceTracker(self)
        self.tracker.clock = clock
        self.ui_file = persist.ui_file(paths.data_dir)
        self.ui_state = persist.load(self.ui_file)
        self.current_id: str | None = None
        self.started = asyncio.Event()  # set once the first workspace is on screen (tests wait on it)
        self.spinner_frame = 0
        self._unsubscribe = None
        self._shutting_down = False
        self._frame_timer: Timer | None = None
        self._spinner_timer: Timer | None = None
        self._retry_timer: Timer | None = None  # rate-limit countdowns: runs only while one does
        self._bindings_for: tuple[str, bool] | None = None  # (workspace, streaming) the Footer shows
        self._save_timer: Timer | None = None
        self._theme_timer: Timer | None = None
        self._theme_dirty = False
        self._save_lock = asyncio.Lock()
        self._after_delete: dict[str, str | None] = {}
        self._find: tuple[str, list[str], int] | None = None  # workspace, hit message ids (oldest first), position
        self._folders_seen: int | None = None
        self._watching = False
        self._signals: list[int] = []
        self._startup_notes: list[tuple[str, str]] = []
        self._theme_ready = False
        self._load_themes()

    # ---- themes -----------------------------------------------------------------------------
    def _load_themes(self) -> None:
        themes, problems = load_themes(SHIPPED_DIR, self.paths.themes_dir)
        for theme in themes:
            self.register_theme(theme)
        for p in problems:
            self._startup_notes.append((f"{p} (skipped)", "warning"))
        wanted = self.config.theme or DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self._startup_notes.append(
                (f"theme '{wanted}' is not installed (add {self.paths.themes_dir}/<name>.toml); using {DEFAULT_THEME}",
                 "warning"))
            self.theme = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"

    def get_css_variables(self) -> dict[str, str]:
        variables = super().get_css_variables()
        variables.update(selection_colors(variables))  # the same dict as self.theme_variables
        return variables

    def _theme_changed(self, theme: Theme) -> None:
        if not self._theme_ready or theme.name == self.config.theme:
            return
        self.config.theme = theme.name
        if self.config.error is not None:
            self.notify("config.toml is invalid, so the theme choice is not saved", severity="warning")
            return
        # The theme picker previews every highlighted theme: save once the choice settles.
        self._theme_dirty = True
        if self._theme_timer is not None:
            self._theme_timer.stop()
        self._theme_timer = self.set_timer(0.6, self._save_theme, name="save-theme")

    async def _save_theme(self) -> None:
        if not self._theme_dirty:
            return
        self._theme_dirty = False
        name = self.config.theme
        try:
            await asyncio.to_thread(config_mod.save_setting, self.paths.config_file, "theme", name)
        except Exception as exc:  # a file we cannot parse or write: say so, never crash
            self.notify(f"theme not saved to {self.paths.config_file}: {exc}", severity="warning", markup=False)

    # ---- layout -----------------------------------------------------------------------------
    def get_driver_class(self):
        """Textual's Linux driver with muxtui's writer (ui/terminal_output), unless TEXTUAL_DRIVER
        names another, the platform has its own (Windows), or MUXTUI_TEXTUAL_OUTPUT=1 asks for
        Textual's own output (a terminal that misdraws the diffs; a benchmark's baseline)."""
        driver_class = super().get_driver_class()
        if driver_class is terminal_output.LinuxDriver and not os.environ.get("MUXTUI_TEXTUAL_OUTPUT"):
            return terminal_output.MuxDriver
        return driver_class

    def get_default_screen(self) -> MainScreen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield StableHeader()
        with Horizontal(id="main"):
            yield Sidebar(self.tracker, id="sidebar")
            with Vertical(id="chat-column"):
                yield MessageChatView(id="chat")
                yield AtSuggestions(id="at-suggestions")
                yield Composer(id="composer", animate=self.animated and self.config.ui.cursor_blink)
        yield StableFooter()

    @property
    def chat(self) -> MessageChatView:
        return self.query_one("#chat", MessageChatView)

    @property
    def composer(self) -> Composer:
        return self.query_one("#composer", Composer)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one("#sidebar", Sidebar)

    # ---- start-up ---------------------------------------------------------------------------
    async def on_mount(self) -> None:
        self._apply_keymap()
        composer = self.composer
        composer.at_paths = AtPathCompleter(self.query_one(AtSuggestions))
        composer.paste_lines = self.config.attachments.paste_lines
        composer.paste_max_bytes = int(self.config.attachments.max_text_mb * 1_000_000)
        if self.config.error is not None:
            self.notify(f"{self.config.error}\nmuxtui is running on defaults; the file is left untouched.",
                        title="invalid config", severity="error", timeout=30, markup=False)
        for problem in self.config.key_errors:
            self.notify(problem, title="key binding refused", severity="error", timeout=30, markup=False)
        for w in self.config.warnings:
            self.notify(w, severity="warning", timeout=15, markup=False)
        for text, severity in self._startup_notes:
            self.notify(text, severity=severity, timeout=15, markup=False)  # type: ignore[arg-type]
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._theme_ready = True
        self.sidebar.display = self.ui_state.sidebar
        self.chat.on_live_mounted = self.bridge.resume_frame
        self._frame_timer = self.set_interval(FRAME, self.bridge.flush_deltas, pause=True, name="delta-frame")
        if self.animated:
            self._spinner_timer = self.set_interval(SPINNER_INTERVAL, self._spin, pause=True, name="spinner")
        self._retry_timer = self.set_interval(1.0, self.tracker.tick_retries, pause=True, name="retry-countdown")
        self.tracker.changed.subscribe(self, self._on_state)
        self._unsubscribe = self.engine.subscribe(self.bridge.on_event)
        self.engine.subscribe(self.auto_name)
        self.run_worker(self.bridge.pump(), group="engine-events", name="engine-events")
        self._install_signal_handlers()
        if not await self._attach_engine():
            return

        try:
            infos = await self.engine.list_workspaces()
            if not infos:
                infos = [await self.engine.create_workspace(FIRST_WORKSPACE)]
        except OSError as exc:
            self.exit(1, return_code=1, message=Text(f"muxtui: cannot use the data folder {self.paths.data_dir}: "
                                                     f"{exc.strerror or exc}"))
            return
        for warning in await self.engine.storage_warnings():
            self.notify(warning, severity="warning", markup=False)
        self.tracker.add_all(infos)
        self.sidebar.sync_states()
        ids = [i.id for i in infos]
        first = self.ui_state.last_workspace if self.ui_state.last_workspace in ids else ids[0]
        await self.select_workspace(first)
        self.composer.focus()
        self.started.set()
        if self.tune_gc:
            self.call_after_refresh(self._tune_gc)
        self.call_after_refresh(self._warm_http)
        self.run_worker(self._seed_badges(ids), group="seed", name="seed-badges")
        self._folders_seen = await self.engine.workspaces_stamp()
        self.set_interval(WATCH_INTERVAL, self._watch_workspaces, name="watch-workspaces")
        # The search index and the trash purge run in the background, from the first frame on:
        # building the index of a big folder in a thread slows the first frame (the GIL).
        self.call_after_refresh(lambda: self.run_worker(self.engine.start(), group="seed", name="engine-start"))

    async def _watch_workspaces(self) -> None:
        """Workspaces created or deleted by another process (`muxtui send`, a second app): the
        workspaces folder's mtime changes when a folder is added or moved out. One stat call per
        tick; the folder is listed only when it changed. (Until the engine host makes this live.)"""
        try:
            mtime = await self.engine.workspaces_stamp()
        except OSError:  # the engine host is reconnecting: next tick
            return
        if mtime == self._folders_seen or self._shutting_down or self._watching:
            return
        self._folders_seen = mtime  # first: a change while listing is seen on the next tick
        self._watching = True
        try:
            infos = await self.engine.list_workspaces()
        except OSError:
            return
        finally:
            self._watching = False
        listed = {info.id for info in infos}
        new = [info for info in infos if info.id not in self.tracker]
        for info in new:
            self.tracker.add(info)
        if new:  # their badges (an error made by `muxtui send`, ...) from the tail of each history
            self.run_worker(self._seed_badges([i.id for i in new]), group="seed", name="seed-new-badges")
        for ws_id in self.tracker.ids():
            state = self.tracker.get(ws_id)
            if ws_id not in listed and ws_id != self.current_id and not (state and state.streaming):
                self.tracker.forget(ws_id)

    def _warm_http(self) -> None:
        """The first request's one-time costs (SSL context, first-use imports: 100-400 ms) are
        paid now, in a thread after the first frame, instead of after Enter (time to first token)."""
        usable = (pc for pc in self.config.providers.values() if not pc.needs_key or pc.resolve_key())
        if any(pc.type != "demo" for pc in usable):
            self.run_worker(self.engine.warm(), group="seed", name="warm-http")

    @staticmethod
    def _tune_gc() -> None:
        """Full collections of a big heap were the main source of event-loop lag (50-400 ms, the
        performance profile): freeze what start-up built, and collect young objects less often."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)

    def _apply_keymap(self) -> None:
        keys = {k: v for k, v in self.config.keys.items() if k != "command-palette"}
        if not keys:
            return
        known = {b.id for b in self.BINDINGS if isinstance(b, Binding) and b.id}
        known |= {b.id for b in Composer.BINDINGS if isinstance(b, Binding) and b.id}
        known |= {b.id for b in QueuedItem.BINDINGS if isinstance(b, Binding) and b.id}
        known |= {b.id for b in (*ConfirmScreen.BINDINGS, *ErrorsScreen.BINDINGS) if isinstance(b, Binding) and b.id}
        known |= conversation.binding_ids()
        known |= {b.id for b in ChatView.BINDINGS if isinstance(b, Binding) and b.id}
        unknown = sorted(set(keys) - known)
        if unknown:
            self.notify(f"[keys] in config.toml: unknown action id(s) {', '.join(unknown)}; known: "
                        f"{', '.join(sorted(known | {'command-palette'}))}", severity="warning", timeout=20,
                        markup=False)
        self.set_keymap({k: v for k, v in keys.items() if k in known})

    async def _seed_badges(self, ids: list[str]) -> None:
        """Badges from the tail of each history (never a full read of a long one); a workspace
        that left a partial behind is opened by the engine, which recovers the partial."""
        for ws_id in ids:
            if self._shutting_down:
                return
            try:
                peek = await self.engine.peek_workspace(ws_id)
            except KeyError:
                continue
            except OSError as exc:
                self.notify(f"cannot load a workspace: {exc}", severity="error", markup=False)
                continue
            self.tracker.seed(ws_id, [peek["last"]] if peek["last"] else [], peek["queue"], peek["streaming"])

    # ---- engine events ----------------------------------------------------------------------
    def _spin(self) -> None:
        self.spinner_frame += 1
        try:
            sidebar = self.sidebar
        except NoMatches:  # the screen is going away (the app quits) while the timer still ticks
            return
        sidebar.tick(self.spinner_frame)

    def _on_state(self, state: WorkspaceState) -> None:
        if self._retry_timer is not None:
            (self._retry_timer.resume if self.tracker.any_countdown else self._retry_timer.pause)()
        if self._spinner_timer is not None:
            if self.tracker.any_streaming:
                self._spinner_timer.resume()
            else:
                self._spinner_timer.pause()
        if state.id == self.current_id:
            self._update_title()
            # "esc Stop" is enabled only while this workspace streams. Only then: a countdown
            # changes the state every second (the footer itself only dims or lights its key).
            if (state.id, state.streaming) != self._bindings_for:
                self._bindings_for = (state.id, state.streaming)
                self.refresh_bindings()

    async def drain(self) -> None:
        """Wait until every engine event so far is on screen (and buffered deltas flushed)."""
        await self.bridge.drain()

    @property
    def view(self) -> WorkspaceView | None:
        """The workspace on screen, as this client knows it (None before the first is shown)."""
        view = self.bridge.view
        return view if view is not None and view.id == self.current_id else None

    async def workspace_deleted(self, ws_id: str, current: bool) -> None:
        """A workspace is gone (here or in another client): show a neighbour if it was on screen."""
        self.ui_state.drafts.pop(ws_id, None)
        if current:
            target = self._after_delete.pop(ws_id, None)
            if target not in self.tracker:
                target = next(iter(self.tracker.ids()), None)
            if target is None:
                info = await self.engine.create_workspace(FIRST_WORKSPACE)
                self.tracker.add(info)
                target = info.id
            self.current_id = None
            await self.select_workspace(target)
        self._save_ui_soon()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_SCREEN_ACTIONS and len(self.screen_stack) > 1:
            return False
        if action == "interrupt":
            editing = self.is_mounted and self.query("#composer") and self.composer.editing is not None
            if editing:
                return True
            # In the conversation or on a queued message, Esc means "back to the composer"
            # (their own escape bindings); it must not stop the reply being waited for.
            focused = self.focused
            if isinstance(focused, (MessageChatView, QueuedItem)):
                return False
            state = self.tracker.get(self.current_id)
            return True if state is not None and state.streaming else None
        return True

    # ---- drafts and ui.json -----------------------------------------------------------------
    @on(TextArea.Changed, "#composer")
    def _draft_changed(self) -> None:
        if self._remember_draft():
            self._save_ui_soon()

    # ---- screenshots --------------------------------------------------------------------------
    def screenshot_dir(self) -> Path:
        """~/Downloads when there is one (Textual's choice), else muxtui's state folder."""
        downloads = Path.home() / "Downloads"
        return downloads if downloads.is_dir() else self.paths.log_dir.parent / "screenshots"

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Save an SVG of the screen and say where (Textual's version fails without ~/Downloads)."""
        if self.is_web:
            return super().deliver_screenshot(filename, path, time_format)
        folders = [Path(path)] if path else [self.screenshot_dir(), Path.cwd()]
        problems = []
        for folder in folders:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                saved = self.save_screenshot(filename, str(folder), time_format)
            except OSError as exc:
                problems.append(f"{folder}: {exc.strerror or exc}")
                continue
            self.notify(f"saved to {saved}", title="screenshot", markup=False)
            return saved
        self.notify("screenshot not saved: " + "; ".join(problems), severity="error", markup=False)
        return None

    # ---- command palette ----------------------------------------------------------------------
    def key_for(self, binding_id: str, default: str) -> str:
        return app_keymap(self).get(binding_id, default)

    def palette_commands(self, screen=None) -> Iterable[PaletteCommand]:
        def cmd(title: str, help: str, action: str, binding_id: str | None = None, default_key: str = "") -> \
                PaletteCommand:
            key = self.key_for(binding_id, default_key) if binding_id else ""
            return PaletteCommand(title, f"{help} ({key})" if key else help, partial(self.run_action, action))

        yield cmd("New workspace", "create a workspace and switch to it", "new_workspace", "new-workspace", "ctrl+n")
        yield cmd("Rename workspace", "rename the current workspace", "rename", "rename", "f2")
        yield cmd("Delete workspace", "delete the current workspace (asks first)", "delete_workspace",
                  "delete-workspace", "ctrl+d")
        yield cmd("Restore deleted workspace", f"bring a workspace back from the trash (kept {TRASH_KEEP_DAYS} days)",
                  "restore_workspace", "restore-workspace", "f6")
        yield cmd("Interrupt", "stop the reply being streamed", "interrupt", "interrupt", "escape")
        yield cmd("Retry / regenerate", "run the last turn again (asks first when the reply is complete)", "retry",
                  "retry", "ctrl+r")
        yield cmd("Pick model", "choose this workspace's model", "pick_model", "pick-model", "ctrl+o")
        yield cmd("Attach file", "attach a file to the message you are writing (or type @path)", "attach", "attach",
                  "alt+a")
        yield cmd("Errors", "the error log, grouped", "errors", "errors", "ctrl+e")
        yield cmd("Dismiss error badge", "clear the current workspace's error badge", "dismiss_error")
        yield cmd("Previous workspace", "switch up the list", "previous_workspace", "previous-workspace", "alt+up")
        yield cmd("Next workspace", "switch down the list", "next_workspace", "next-workspace", "alt+down")
        yield cmd("Load earlier messages", "mount older messages of this chat", "load_earlier", "load-earlier",
                  "ctrl+home")
        yield cmd("Toggle sidebar", "show or hide the workspace list", "toggle_sidebar", "toggle-sidebar", "f3")
        yield cmd("Change theme", "pick a theme (saved to config.toml)", "change_theme", "theme", "ctrl+t")
        yield cmd("Quit", "quit muxtui (asks while replies stream)", "quit", "quit", "ctrl+q")
        yield from self.conversation_commands(cmd)
        # Found by typing (not in the discovery list, which keeps its length and snapshot).
        for command in (
                cmd("Find in workspace", "find words in this workspace; n / N step through the hits",
                    "find_in_workspace", "find-in-workspace", "f7"),
                cmd("Search messages", "search every workspace (ws: role: model: filter)", "search", "search",
                    "ctrl+f"),
                cmd("Compact conversation", "summarise the older messages; requests send the summary instead "
                    "(or type /compact)", "compact"),
                cmd("Export workspace as Markdown", "write this workspace to a .md file in the current folder",
                    "export_workspace('md')"),
                cmd("Export workspace as JSON", "write this workspace to a .json file (muxtui import reads it)",
                    "export_workspace('json')")):
            command.discover = False
            yield command
        for command in self.get_system_commands(screen or self.screen):
            yield PaletteCommand(command.title, command.help, command.callback, discover=command.discover)
        for n, state in enumerate(self.tracker.states(), 1):
            help = short_model(state.model) + (" · streaming" if state.streaming else "")
            if state.error_type:
                help += f" · error: {state.error_type}"
            yield PaletteCommand(f"Go to workspace: {one_line(state.name, 60)}",
                                 help + (f" (alt+{n})" if n <= 9 else ""),
                                 partial(self.select_workspace, state.id), discover=False)

    def get_system_commands(self, screen):  # the built-ins minus the duplicates of ours
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Theme"):
                yield command


def run_app(home: str | Path | None = None, no_engine: bool = False, remote: str | None = None) -> int:
    """The bare `muxtui` command: a client of the engine host (started if none runs), of one on
    another machine over ssh (``remote``), or with ``no_engine`` (or ``[engine] mode =
    "embedded"``) the engine in this process."""
    paths = Paths.default(home)
    paths.ensure()
    config = config_mod.load_or_default(paths.config_file)
    engine = None
    if remote:
        from muxtui.host.attached import AttachedEngine
        from muxtui.host.remote import RemoteEngine, ssh_command

        ssh = os.environ.get("MUXTUI_SSH", "ssh")  # tests put a stand-in here
        engine = AttachedEngine(paths, remote=RemoteEngine(None, via=ssh_command(remote, ssh=ssh),
                                                           client_name="muxtui app (remote)"))
    elif not no_engine and config.engine.mode != "embedded":
        from muxtui.host.attached import AttachedEngine

        engine = AttachedEngine(paths)
    app = MuxApp(paths, config, tune_gc=True, standalone=True, engine=engine)
    result = app.run()
    return int(result or 0) if app.return_code is None else int(app.return_code or 0)
