"""Copying text out of muxtui: OSC 52 to the terminal, tmux, and the local system clipboard.

OSC 52 (``ESC ] 52 ; c ; <base64> BEL``) asks the terminal itself to set the clipboard, so it
works over SSH. Inside tmux an application's OSC 52 is only honoured with ``set-clipboard on``
(the default, ``external``, ignores it), so there we also send the sequence wrapped for tmux's
passthrough (``ESC P tmux; … ESC \\``, needs ``allow-passthrough on``) and hand the text to
``tmux load-buffer -w -``, which sets tmux's paste buffer and forwards it to the outer terminal.
When the session is local (no SSH) a system clipboard tool (wl-copy, xclip, xsel, pbcopy) is
used as well.

Many terminals (and tmux, screen, hterm) drop or cut an OSC 52 payload past ~74 KB of base64:
``OSC52_MAX_BASE64`` is that limit (74,994 bytes, about 56 KB of text). A larger copy is never
sent cut short: it goes to the system clipboard or tmux if one is there, and the toast says so;
otherwise the toast says it was too large and where the text was saved instead.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

OSC52_MAX_BASE64 = 74_994
TOOL_TIMEOUT = 3.0  # seconds for a clipboard tool; a hung X server must not hang the app

# (command, environment variable that must be set for it to work)
SYSTEM_TOOLS: tuple[tuple[tuple[str, ...], str | None], ...] = (
    (("wl-copy",), "WAYLAND_DISPLAY"),
    (("xclip", "-selection", "clipboard"), "DISPLAY"),
    (("xsel", "--clipboard", "--input"), "DISPLAY"),
    (("pbcopy",), None),
)


def osc52(text: str) -> str:
    return f"\x1b]52;c;{base64.b64encode(text.encode('utf-8')).decode('ascii')}\a"


def tmux_passthrough(sequence: str) -> str:
    """Wrap an escape sequence so tmux hands it to the outer terminal (every ESC doubled)."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def fits_osc52(text: str) -> bool:
    return (len(text.encode("utf-8")) + 2) // 3 * 4 <= OSC52_MAX_BASE64


def is_remote(env: Mapping[str, str]) -> bool:
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT"))


@dataclass
class CopyResult:
    chars: int
    via: list[str] = field(default_factory=list)  # "terminal", "tmux", "system clipboard"
    too_large: bool = False
    saved_to: Path | None = None

    def message(self) -> str:
        n = f"{self.chars:,} character{'s' if self.chars != 1 else ''}"
        if self.too_large and not self.via:
            where = f"; saved to {self.saved_to}" if self.saved_to else ""
            return (f"not copied: {n} is over the terminal clipboard's limit "
                    f"(OSC 52, {OSC52_MAX_BASE64 // 1000} KB base64){where}")
        how = " and ".join(self.via) or "terminal"
        note = " (too large for the terminal's OSC 52)" if self.too_large else ""
        return f"copied {n} via {how}{note}"


def _run_tool(argv: tuple[str, ...], text: str) -> bool:
    try:
        subprocess.run(argv, input=text.encode("utf-8"), timeout=TOOL_TIMEOUT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True
    except (OSError, subprocess.SubprocessError):
        return False


def copy(text: str, write: Callable[[str], None], *, env: Mapping[str, str] | None = None,
         run_tool: Callable[[tuple[str, ...], str], bool] = _run_tool, which=shutil.which,
         overflow_file: Path | None = None) -> CopyResult:
    """Copy `text` every way that applies; `write` sends bytes to the terminal. Blocking (the
    clipboard tools are subprocesses): call it from a thread."""
    env = os.environ if env is None else env
    result = CopyResult(len(text))
    in_tmux = bool(env.get("TMUX"))
    if fits_osc52(text):
        sequence = osc52(text)
        write(sequence)
        if in_tmux:
            write(tmux_passthrough(sequence))
        result.via.append("terminal (OSC 52)")
    else:
        result.too_large = True
    if in_tmux and which("tmux") and run_tool(("tmux", "load-buffer", "-w", "-"), text):
        result.via.append("tmux buffer")
    if not is_remote(env):
        for argv, needs in SYSTEM_TOOLS:
            if (needs is None or env.get(needs)) and which(argv[0]) and run_tool(argv, text):
                result.via.append("system clipboard")
                break
    if result.too_large and not result.via and overflow_file is not None:
        try:
            from muxtui.client import atomic

            atomic.write_text(overflow_file, text)
            result.saved_to = overflow_file
        except OSError:
            pass
    return result
