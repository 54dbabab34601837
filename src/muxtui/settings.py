"""Per-workspace request settings: what they are, how they are checked, and how they combine.

A workspace's settings (``settings.json`` in its folder) override ``[defaults]`` of config.toml;
``[presets.NAME]`` tables are named sets the settings dialog can apply. Every value is optional:
an absent one means "the provider's default", and nothing is sent for it.

Which request field each setting becomes, per provider (see the providers' ``_prepare``):

==================  =====================================  ====================================
setting             OpenAI-compatible                      Anthropic
==================  =====================================  ====================================
system_prompt       a first ``system`` message             ``system``
temperature         ``temperature``                        ``temperature`` (not with thinking)
max_tokens          ``max_tokens``                         ``max_tokens``
reasoning_effort    ``reasoning_effort``                   (none)
thinking_budget     (none)                                 ``thinking.budget_tokens``
==================  =====================================  ====================================
"""

from __future__ import annotations

from typing import Any

EFFORTS = ("minimal", "low", "medium", "high")
KEYS = ("system_prompt", "temperature", "max_tokens", "reasoning_effort", "thinking_budget")
MAX_SYSTEM_PROMPT = 100_000


def validate(raw: Any, where: str = "settings") -> dict[str, Any]:
    """A clean settings dict from user input; raises ValueError naming the bad key."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table of settings")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in KEYS:
            raise ValueError(f"{where}: unknown setting '{key}' (known: {', '.join(KEYS)})")
        if value is None or value == "":
            continue
        if key == "system_prompt":
            if not isinstance(value, str):
                raise ValueError(f"{where}.system_prompt: expected text")
            if len(value) > MAX_SYSTEM_PROMPT:
                raise ValueError(f"{where}.system_prompt: longer than {MAX_SYSTEM_PROMPT} characters")
            out[key] = value
        elif key == "temperature":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 2:
                raise ValueError(f"{where}.temperature: expected a number from 0 to 2, got {value!r}")
            out[key] = float(value)
        elif key in ("max_tokens", "thinking_budget"):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{where}.{key}: expected a positive whole number, got {value!r}")
            if key == "thinking_budget" and value < 1024:
                raise ValueError(f"{where}.thinking_budget: at least 1024 tokens (the API's minimum), got {value}")
            out[key] = value
        elif key == "reasoning_effort":
            if value not in EFFORTS:
                raise ValueError(f"{where}.reasoning_effort: one of {', '.join(EFFORTS)}, got {value!r}")
            out[key] = value
    return out


def effective(defaults: dict[str, Any], workspace: dict[str, Any]) -> dict[str, Any]:
    """The workspace's settings over the config's defaults."""
    merged = dict(defaults)
    merged.update({k: v for k, v in workspace.items() if v is not None})
    return merged


def summary(settings: dict[str, Any]) -> str:
    """A short line for the header: "sys · T 0.7 · max 2000 · effort high · think 4096"."""
    parts = []
    if settings.get("system_prompt"):
        parts.append("sys")
    if settings.get("temperature") is not None:
        parts.append(f"T {settings['temperature']:g}")
    if settings.get("max_tokens"):
        parts.append(f"max {settings['max_tokens']}")
    if settings.get("reasoning_effort"):
        parts.append(f"effort {settings['reasoning_effort']}")
    if settings.get("thinking_budget"):
        parts.append(f"think {settings['thinking_budget']}")
    return " · ".join(parts)
