"""Make untrusted text (model replies, user input, names, error messages) inert on screen.

A reply can carry terminal control sequences (``ESC [2J`` clears the screen, OSC 52 writes the
clipboard) or bidi overrides that make text read differently from what it is. ``visible()``
maps every such character to a visible stand-in, one character at a time, so it can be applied
to stream chunks independently (the one exception, a ``\r\n`` split across two chunks, is
mended when the finished reply is rendered from its full text).

It does not escape console markup: markup is never parsed on model or user text in the first
place (labels are built from ``Content``/``Text`` objects or ``markup=False``).
"""

from __future__ import annotations

import re

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
