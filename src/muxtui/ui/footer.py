"""The footer of key bindings: Textual's ``Footer``, whose keys stay mounted while only their
enabled state changes.

Textual's Footer rebuilds all its key widgets (``recompose``) on every bindings refresh, and the
``data_bind`` watcher each key registers on the footer is never released, so each refresh leaked
every key widget with its styles and caches. The app refreshes bindings whenever "esc Stop"
turns on or off (the current workspace starts or stops streaming: twice a reply), and Textual
does on every focus change: ~14 widgets and ~0.6 MB a reply, a slower layout of the whole screen
before each reply's first token, and a day of replies grows the process by hundreds of MB.

``StableFooter`` recomposes only when the keys it shows change (which bindings, their keys,
labels, tooltips, groups); when only their enabled state changed, it updates the mounted keys in
place, as a fresh one would look (the ``-disabled`` class dims it; a click on it rings the bell).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widget import Widget
from textual.widgets import Footer

from muxtui.ui.textual_private import set_footer_key_disabled

if TYPE_CHECKING:
    from textual.screen import Screen


class StableFooter(Footer):
    """A Footer that recomposes only when the set of keys it shows changes (see the module)."""

    def __init__(self, *children: Widget, **kwargs) -> None:
        super().__init__(*children, **kwargs)
        self._ready_to_show = False  # Footer composes nothing before its first bindings refresh
        self._keys_composed: tuple | None = None  # what the mounted keys were composed from
        self._update_queued = False

    def compose(self):
        # Read before Footer's compose reads the same active bindings: both run in one go.
        self._keys_composed = self._keys_shown() if self._ready_to_show else None
        yield from super().compose()

    def _keys_shown(self) -> tuple:
        """Everything Footer.compose reads from the bindings, except whether each is enabled."""
        app = self.app
        return (
            tuple((key, binding, tooltip, app.get_key_display(binding))
                  for key, (_node, binding, _enabled, tooltip) in self.screen.active_bindings.items()),
            self.show_command_palette, app.ENABLE_COMMAND_PALETTE, app.COMMAND_PALETTE_BINDING,
        )

    def bindings_changed(self, screen: Screen) -> None:
        if self._keys_composed is None or not (self.is_attached and screen is self.screen and screen.app.app_focus):
            self._ready_to_show = True
            super().bindings_changed(screen)  # composes the keys (or waits for app focus, as Footer does)
            return
        if not self._update_queued:  # a burst of refreshes costs one update, after the next refresh as Footer's
            self._update_queued = True
            self.call_after_refresh(self._update_keys)

    async def _update_keys(self) -> None:
        self._update_queued = False
        if not self.is_attached:
            return
        if self._keys_shown() != self._keys_composed:
            await self.recompose()
            return
        active = self.screen.active_bindings
        keys = list(self.query("FooterKey"))
        if any(key_widget.key not in active for key_widget in keys):  # type: ignore[attr-defined]
            await self.recompose()  # (never seen: Footer composes a key widget per active binding it shows)
            return
        for key_widget in keys:
            set_footer_key_disabled(key_widget, not active[key_widget.key].enabled)  # type: ignore[attr-defined]
