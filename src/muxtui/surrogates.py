"""UTF-16 surrogates in model text: join a pair split across stream chunks, replace lone ones.

JSON may carry a character outside the BMP as a ``\\uD83D\\uDE00`` escape pair, and some servers
cut the pair across two chunks (two SSE events, two JSON strings); others send a lone half.
Python decodes each half to a lone surrogate code point, which no UTF-8 encoder accepts: left
alone it made every write of the reply raise. Everything the engine keeps or shows goes
through here first, so text in memory, on screen and on disk is always valid Unicode.
"""

from __future__ import annotations

import re

__all__ = ["fix_surrogates", "SurrogateJoiner", "REPLACEMENT"]

REPLACEMENT = "\ufffd"
_ANY = re.compile("[\ud800-\udfff]")


def fix_surrogates(text: str) -> str:
    """A valid pair becomes its character, a lone half becomes U+FFFD; O(n), no copy if clean."""
    if text.isascii() or _ANY.search(text) is None:
        return text
    # UTF-16 with surrogatepass turns a pair back into one character when decoded, and the
    # decoder replaces a lone half with U+FFFD: exactly the two rules, in C.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _is_high(ch: str) -> bool:
    return "\ud800" <= ch <= "\udbff"


class SurrogateJoiner:
    """Per-stream filter: holds back a trailing high half until the next chunk shows whether
    its low half follows, so a pair split across chunks is joined, not replaced."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        if self._held:
            text, self._held = self._held + text, ""
        elif text.isascii():
            return text
        if text and _is_high(text[-1]):
            text, self._held = text[:-1], text[-1]
        return fix_surrogates(text)

    def flush(self) -> str:
        """End of the stream: a half still held has no partner and becomes U+FFFD."""
        held, self._held = self._held, ""
        return REPLACEMENT if held else ""
