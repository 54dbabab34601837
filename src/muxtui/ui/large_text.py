"""What counts as a large text on screen, and how it is shown small.

Wrapping is what costs: a 2 MB paste (40,000 lines) inserted into the composer's TextArea, or
rendered as one Static in the chat, held the event loop for seconds. So a large text is never
laid out whole: the composer holds it as a chip (a one-line token that stands for the text
and is expanded when the message is sent), and the chat shows its first lines and its size.
The text itself is sent and saved in full.
"""

from __future__ import annotations

import re

LARGE_CHARS = 20_000  # ~30 ms to wrap in a TextArea on a slow machine
LARGE_LINES = 400
PREVIEW_LINES = 12
PREVIEW_CHARS = 1_200

# A chip in the composer: "⟦pasted 2.0 MB, 40,000 lines #3⟧" (the number finds the text).
CHIP = re.compile(r"⟦pasted [^⟧\n]{1,80} #(\d{1,9})⟧")


def as_typed(text: str) -> str:
    """`text` with its line breaks as the TextArea would store them: a terminal pastes lines
    ending in "\r" (tmux, most terminals), and any of str.splitlines' breaks splits a line."""
    lines = text.splitlines()
    if text.endswith(("\r\n", "\n", "\r")):
        lines.append("")
    return "\n".join(lines)


def is_large(text: str) -> bool:
    return len(text) > LARGE_CHARS or text.count("\n", 0, LARGE_CHARS * 4) >= LARGE_LINES


def size_label(text: str) -> str:
    """"2.0 MB, 40,000 lines" / "35 KB, 120 lines"."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size >= 1_000_000:
        amount = f"{size / 1_000_000:.1f} MB"
    else:
        amount = f"{max(1, round(size / 1000))} KB"
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return f"{amount}, {lines:,} line{'s' if lines != 1 else ''}"


def chip(text: str, number: int) -> str:
    return f"⟦pasted {size_label(text)} #{number}⟧"


def preview(text: str) -> str:
    """The first few lines of `text`, cut short (for a collapsed message)."""
    head = text[: PREVIEW_CHARS + 1]
    lines = head.split("\n")[:PREVIEW_LINES]
    shown = "\n".join(lines)
    return shown[:PREVIEW_CHARS].rstrip("\n")
