"""Times said in plain words ("3 min ago"), shared by the CLI and the UI (no Textual here)."""

from __future__ import annotations


def ago(seconds: float) -> str:
    """How long ago, in the largest whole unit: "12 s ago", "3 min ago", "5 h ago", "2 d ago"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"
