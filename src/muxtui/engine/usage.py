"""Token usage summed over a workspace's replies (each reply saves its own ``usage``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["USAGE_KEYS", "usage_total"]

USAGE_KEYS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")


def usage_total(messages: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Sums of every usage field over the replies that report usage, plus ``replies``: how many
    did. Fields that are not integers (a hand-edited file) are skipped."""
    total = dict.fromkeys(USAGE_KEYS, 0)
    replies = 0
    for m in messages:
        usage = m.get("usage")
        if m.get("role") != "assistant" or not isinstance(usage, dict):
            continue
        replies += 1
        for key in USAGE_KEYS:
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                total[key] += value
    total["replies"] = replies
    return total
