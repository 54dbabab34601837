"""Attachments as the user sees them: the chip that stands for a file in the composer
("⟦📎 main.py · 2.1 KB #1⟧"), and the chip row under a sent or queued message.

A chip in the composer is one token of text: deleting it (or any part of it) drops the
attachment, as deleting a large-paste chip drops the paste (muxtui.ui.large_text). When the
message is sent the chips leave the text (they become the message's attachments, drawn as a
row of chips under it); a ``@path`` the user typed stays in the text, as in Claude Code.

The engine knows an attachment by its ref (``{"id": sha256, "name", "mime", "kind", "size"}``,
muxtui.client.attachments); a chip holds the ref once uploaded, and until then what is needed
to upload it (a pasted text is uploaded in the background while the user goes on typing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from textual.content import Content

from muxtui.ui.safe import one_line

ICON = "📎"
# A chip in the composer; the number finds the attachment (as for a paste chip).
CHIP = re.compile(r"⟦📎 [^⟧\n]{1,140} #(\d{1,9})⟧")
NAME_WIDTH = 40


def size_text(size: int) -> str:
    """"812 B", "2.1 KB", "1.3 MB"."""
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1_000_000:.1f} MB"


def _name(name: str) -> str:
    return one_line(name, NAME_WIDTH).replace("⟦", "[").replace("⟧", "]")


def label(ref: dict[str, Any]) -> str:
    """"main.py · 2.1 KB", "shot.png · image · 40.0 KB", "pasted text, 120 lines · 4.2 KB"."""
    kind = str(ref.get("kind") or "")
    size = ref.get("size")
    parts = [_name(str(ref.get("name") or "?"))]
    if kind and kind != "text":
        parts.append(kind)
    if isinstance(size, int):
        parts.append(size_text(size))
    return " · ".join(parts)


@dataclass
class ComposerAttachment:
    """An attachment in the composer: its ref once the engine has it. Its chip's text is fixed
    when it is made (the composer finds the chip by it)."""

    number: int
    name: str
    kind: str
    size: int
    ref: dict[str, Any] | None = None
    text: str | None = None  # a pasted text, until uploaded (then dropped)
    chip: str = ""

    def __post_init__(self) -> None:
        if not self.chip:
            self.chip = f"⟦{ICON} {label(self.as_ref())} #{self.number}⟧"

    @classmethod
    def from_ref(cls, number: int, ref: dict[str, Any]) -> "ComposerAttachment":
        return cls(number, str(ref.get("name") or "?"), str(ref.get("kind") or ""), int(ref.get("size") or 0),
                   ref=dict(ref))

    def as_ref(self) -> dict[str, Any]:
        return self.ref or {"name": self.name, "kind": self.kind, "size": self.size}


def numbers_in(text: str) -> list[int]:
    """The chip numbers in `text`, in order, each once."""
    if "⟦📎 " not in text:
        return []
    return list(dict.fromkeys(int(m.group(1)) for m in CHIP.finditer(text)))


_AT_TOKEN = re.compile(r"(?:^|(?<=\s))@(\S+)")


def at_names(text: str) -> set[str]:
    """The file names the ``@path`` tokens of `text` end in (a message loaded back for editing
    shows no chip for them: the token attaches the file again when it is sent)."""
    if "@" not in text:
        return set()
    return {m.group(1).rstrip(",.;:!?)]}'\"").rsplit("/", 1)[-1] for m in _AT_TOKEN.finditer(text)}


def strip(text: str) -> str:
    """`text` without its chips: a line left empty by them goes, and the spaces around a chip
    in a sentence close up ("see ⟦📎 a.py #1⟧ here" -> "see here")."""
    if "⟦📎 " not in text:
        return text
    out = []
    for line in text.split("\n"):
        if not CHIP.search(line):
            out.append(line)
            continue
        rest = CHIP.sub("", line)
        if rest.strip():
            out.append(re.sub(r"(?<=\S) {2,}(?=\S)", " ", rest).strip())
    return "\n".join(out).strip("\n")


def row(refs: list[dict[str, Any]] | None) -> Content | None:
    """The chips of a sent or queued message, on one line (Content wraps them)."""
    shown = [r for r in refs or () if isinstance(r, dict)]
    if not shown:
        return None
    chips = [Content.styled(f" {ICON} {label(r)} ", "$text-accent on $accent 20%") for r in shown]
    return Content(" ").join(chips)
