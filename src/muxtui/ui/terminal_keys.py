"""Teach Textual's legacy key parser the alt+key sequences our bindings rely on.

Over SSH and inside tmux most terminals do not speak the kitty keyboard protocol. There,
Textual 8 reads alt+up (``ESC [1;3A``) as *two* keys, escape then up: our escape interrupts the
stream, so switching workspace would kill the reply. And alt+enter (``ESC CR``) arrives as plain
enter, which would send the message instead of inserting a newline; and alt+1..alt+9
(``ESC 1``...) are turned into "¡", "™"... (WezTerm-on-macOS characters) that the composer would
type. We add those sequences to the parser's table as single keys. Additive only; terminals with the kitty protocol never reach
this table.
"""

from __future__ import annotations


class _Key(str):
    """Stands in for a `textual.keys.Keys` member: the parser only reads `.value`."""

    @property
    def value(self) -> str:  # type: ignore[override]
        return str(self)


SEQUENCES: dict[str, str] = {
    "\x1b\r": "alt+enter",
    "\x1b[1;3A": "alt+up",
    "\x1b[1;3B": "alt+down",
    "\x1b[1;3C": "alt+right",
    "\x1b[1;3D": "alt+left",
    "\x1b[1;9A": "alt+up",  # iTerm2 / some xterm configs send the meta modifier
    "\x1b[1;9B": "alt+down",
    **{f"\x1b{n}": f"alt+{n}" for n in range(1, 10)},
}


def install() -> None:
    from muxtui.ui.textual_private import ansi_sequence_table

    table = ansi_sequence_table()
    if table is None:  # pragma: no cover - a future Textual moved it; nothing to patch
        return
    for sequence, key in SEQUENCES.items():
        table[sequence] = (_Key(key),)
