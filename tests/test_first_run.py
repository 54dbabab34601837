"""First run: `make run` says what it installs instead of a minute of silence."""

from __future__ import annotations

import re
from pathlib import Path

from muxtui.ui.conversation import name_from_message

MAKEFILE = Path(__file__).resolve().parent.parent / "Makefile"


def test_make_run_first_install_prints_progress():
    text = MAKEFILE.read_text()
    pip_lines = [line for line in text.splitlines() if "pip install" in line or "PIP_INSTALL)" in line]
    assert pip_lines
    assert not any(re.search(r"\s-q\b", line) for line in pip_lines), pip_lines  # pip's own progress shows
    assert text.count("@echo \"muxtui:") >= 3  # one line per step


def test_new_workspace_name_from_the_first_message():
    assert name_from_message("\n  fix the   flaky test\nsecond line") == "fix the flaky test"
    long = "explain the difference between backpressure and flow control in asyncio streams"
    name = name_from_message(long)
    assert name.endswith("…") and len(name) <= 41 and long.startswith(name[:-1])
    assert name_from_message("   \n ") == ""
    # Markdown syntax is not part of the name.
    assert name_from_message("## Title line with **bold**\nmore") == "Title line with bold"
    assert name_from_message("- `grep` vs ~~awk~~") == "grep vs awk"
    assert name_from_message("1. first step") == "first step"
    assert name_from_message("**") == "**"  # nothing but markup: kept as typed
