"""Hostile-shape matrix: each reply shape through the real app and the fake server's HTTP stream.

For every shape (muxtui.testing.hostile_markdown), a fresh app process (tests/stress/
render_driver.py) streams the reply, then opens the workspace again so the finished message
renders from history. After each: the whole reply is rendered and its last word painted;
the app is idle again within 2 s (under IDLE_CPU of CPU in a 1 s window); RSS is within
RSS_SLACK MB of its level before the reply (after a warm-up reply of the same shape paid the
one-off costs), and opening the reply again adds at most RSS_SLACK more.

`make test` runs three cheap rows (shapes scaled down); `make stress` (MUXTUI_STRESS=full)
runs every shape at full size, up to 5 MB of ordinary Markdown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import record

FULL = os.environ.get("MUXTUI_STRESS") == "full"
IDLE_CPU = 0.05  # CPU seconds in a 1 s window: idle (the spinning renderer used ~1.0)
RSS_SLACK = 20.0  # MB
ROOT = Path(__file__).resolve().parents[2]

# (shape, scale, characters per chunk, ms between chunks)
FULL_ROWS = [
    ("code_4k", 1, 20, 10),  # the reported case: a model's pace
    ("code_8k", 1, 8_000, 0),  # the same kind of block in one chunk
    ("unclosed_fence", 1, 2_000, 0),  # 50,000 lines, never closed
    ("table", 1, 1_000, 0),  # 5,000 rows
    ("deep_list", 1, 200, 0),
    ("deep_quote", 1, 200, 0),
    ("wide_paragraph", 1, 200, 0),  # 186 KB of CJK and emoji, one paragraph
    # 5 MB of ordinary Markdown: it completes (minutes on 2 loaded cores), but Textual layout
    # passes grow with the chat's height, so the time is worse than linear, and its painted
    # lines stay in memory for display (+220 MB). A known gap, left to the performance issue.
    pytest.param(("ordinary", 1, 8_000, 0), id="ordinary",
                 marks=pytest.mark.xfail(reason="5 MB: superlinear layout cost and +220 MB of painted lines",
                                         strict=False)),
]
QUICK_ROWS = [("code_4k", 1, 20, 10), ("unclosed_fence", 0.05, 500, 0), ("table", 0.05, 200, 0)]
ROWS = FULL_ROWS if FULL else QUICK_ROWS


def run_driver(tmp_path: Path, base_url: str, row: tuple) -> dict:
    home = tmp_path / "muxhome"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'default_model = "fake:plain"\n\n[providers.fake]\ntype = "openai"\nbase_url = "{base_url}"\n'
        'api_key_env = "MUXTUI_TEST_KEY"\nmodels = ["plain"]\n', encoding="utf-8")
    env = {**os.environ, "HOME": str(tmp_path), "MUXTUI_HOME": str(home), "MUXTUI_TEST_KEY": "sk-test-render"}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    shape, scale, size, delay = row
    proc = subprocess.run([sys.executable, "-m", "tests.stress.render_driver", shape, str(scale), str(size), str(delay)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600 if FULL else 300)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError(f"driver failed: {(proc.stderr or proc.stdout)[-2000:]}")


@pytest.mark.parametrize("row", ROWS, ids=[row[0] if isinstance(row, tuple) else None for row in ROWS])
def test_hostile_shape_renders_and_the_app_goes_idle(row, tmp_path, fake_server):
    result = run_driver(tmp_path, fake_server.openai_base_url, row)
    checks = {
        "rendered": result["rendered"] and result["on_screen"],
        "reopened": result["reopened"] and result["reopened_on_screen"],
        "idle": min(result["idle_cpu"]) <= IDLE_CPU and min(result["reopen_idle_cpu"]) <= IDLE_CPU,
        # After the reply: within RSS_SLACK of before. Opening it again from history renders a
        # second copy while the first one's memory is reused, not returned: within RSS_SLACK more.
        "rss": result["rss_after"] - result["rss_before"] <= RSS_SLACK
        and result["rss_reopened"] - result["rss_after"] <= RSS_SLACK,
    }
    note = (f"{result['chars'] / 1000:,.0f} K chars: {result['seconds']:.1f} s, reopen {result['reopen_seconds']:.1f} s, "
            f"idle cpu {min(result['idle_cpu']):.3f}/{min(result['reopen_idle_cpu']):.3f} s, "
            f"rss +{result['rss_after'] - result['rss_before']:.0f}/+{result['rss_reopened'] - result['rss_before']:.0f} MB")
    print(f"\n{row[0]}: {note} {checks}")
    record(f"render: {row[0]}", 2, int(checks["rendered"]) + int(checks["reopened"]),
           lost=int(not checks["rendered"]) + int(not checks["reopened"]),
           longest_hang=max(result["seconds"], result["reopen_seconds"]), note=note)
    assert all(checks.values()), (checks, result)
