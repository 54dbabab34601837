"""Make untrusted text (model replies, user input, names, error messages) inert on a terminal.

Shared by the app (``muxtui.ui.safe`` re-exports it) and the command line (``muxtui.cli``), so it
imports neither Textual nor the UI (an import-linter contract checks this).

A reply can carry terminal control sequences (``ESC [2J`` clears the screen, OSC 52 writes the
clipboard, ``ESC ]0;`` retitles the window) or bidi overrides that make text read differently
from what it is. ``visible()`` maps every such character to a visible stand-in, one character at
a time, so it can be applied to stream chunks independently:

- C0 controls except tab and newline, as the Unicode control pictures: ESC is ␛, NUL ␀, BEL ␇,
  a lone CR ␍ (``\\r\\n`` stays a line break);
- DEL as ␡;
- C1 controls (U+0080–U+009F; U+009B is a one-byte CSI on some terminals), bidi embeddings,
  overrides, isolates and marks, the line/paragraph separators and the BOM as ``<U+XXXX>``.

``TerminalText`` is the command line's writer: it wraps stdout or stderr and applies
``visible()`` to everything written when the stream is a terminal; a pipe or a file gets the
text exactly as it is.

Console markup is not escaped here: markup is never parsed on model or user text in the first
place (labels are built from ``Content``/``Text`` objects or ``markup=False``).
"""

from __future__ import annotations

import io
import re
from typing import TextIO

# Bidi embedding/override/isolate controls and marks (Trojan Source, CVE-2021-42574).
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"

_TABLE: dict[int, str] = {}
for _code in range(0x20):
    if _code not in (0x09, 0x0A):  # tab and newline are text
        _TABLE[_code] = chr(0x2400 + _code)  # ␀ ␁ … ␛ … ␟ (Unicode control pictures)
_TABLE[0x7F] = "\u2421"  # ␡
for _code in range(0x80, 0xA0):  # C1 controls (0x9b is a one-byte CSI on some terminals)
    _TABLE[_code] = f"<U+{_code:04X}>"
for _ch in BIDI:
    _TABLE[ord(_ch)] = f"<U+{ord(_ch):04X}>"
# Line/paragraph separators and the BOM render unpredictably; show them too.
for _code in (0x2028, 0x2029, 0xFEFF):
    _TABLE[_code] = f"<U+{_code:04X}>"

_UNSAFE = re.compile("[" + re.escape("".join(chr(c) for c in _TABLE)) + "]")


def visible(text: str | None) -> str:
    """Return `text` with control, escape and bidi characters replaced by inert stand-ins.

    ``\\r\\n`` is kept as a line break (pasted Windows text); a lone ``\\r`` is shown as ␍.
    """
    if not text:
        return ""
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_TABLE)


def one_line(text: str | None, limit: int | None = None) -> str:
    """visible() text squeezed onto one line (for labels, titles, list rows)."""
    shown = " ".join(visible(text).split())
    if limit is not None and len(shown) > limit:
        shown = shown[: max(0, limit - 1)] + "…"
    return shown


class TerminalText(io.TextIOBase):
    """A text stream in front of a terminal that shows control characters as stand-ins.

    Everything the command line prints (replies, history, names, errors, argparse's messages)
    goes through it once installed as ``sys.stdout``/``sys.stderr``. A CR at the end of one
    write is held until the next, so a ``\\r\\n`` split across two stream chunks is still one
    line break.
    """

    def __init__(self, stream: TextIO):
        super().__init__()
        self.stream = stream
        self._cr = False

    def write(self, text: str) -> int:
        n = len(text)
        if self._cr:
            self._cr = False
            text = "\r" + text
        if text.endswith("\r"):
            self._cr = True
            text = text[:-1]
        if text:
            self.stream.write(visible(text))
        return n

    def flush(self) -> None:
        self.stream.flush()

    def finish(self) -> None:
        """Show a CR still held back (the output ended on it)."""
        if self._cr:
            self._cr = False
            self.stream.write(visible("\r"))
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.stream.errors


def is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # closed or detached
        return False
