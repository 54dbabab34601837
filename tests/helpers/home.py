"""The temp MUXTUI_HOME every layer tests in, and its config.toml pointed at the fake server.

Two config profiles: "engine" (every provider kind the engine meets, short timeouts, quick
retries) and "app" (one fake provider with a model list, the offline demo, one attempt), the one
the UI tests and their snapshots were written against.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from muxtui.engine.storage import Storage
from muxtui.paths import Paths

TEST_KEY = "sk-test-muxtui-SECRET-0123456789"

_PROVIDERS = {
    "engine": """
[providers.fake]
type = "openai"
base_url = "{openai}"
api_key_env = "MUXTUI_TEST_KEY"

[providers.fakeanth]
type = "anthropic"
base_url = "{anthropic}"
api_key_env = "MUXTUI_TEST_KEY"

[providers.nokey]
type = "openai"
base_url = "{openai}"
api_key_env = "MUXTUI_TEST_MISSING_KEY"

[providers.refused]
type = "openai"
base_url = "http://127.0.0.1:9/v1"
""",
    "app": """
[providers.fake]
type = "openai"
base_url = "{openai}"
api_key_env = "MUXTUI_TEST_KEY"
models = ["plain", "plain?chunks=5"]

[providers.demo]
type = "demo"
chars_per_second = 0
""",
}

_STREAM = {
    "engine": """
[stream]
partial_interval_ms = 50
connect_timeout = 3
read_timeout = 3
total_timeout = 30
retry_attempts = 3
retry_base_delay = 0.01
retry_max_delay = 0.05
""",
    "app": """
[stream]
partial_interval_ms = 50
connect_timeout = 3
read_timeout = 30
total_timeout = 30
retry_attempts = 1
retry_base_delay = 0.01
retry_max_delay = 0.05
""",
}


def write_config(folder: Path, server: Any, *, profile: str = "engine", extra_top: str = "",
                 extra: str = "") -> Path:
    """Write `folder`/config.toml for the fake `server`; `extra_top` goes above the first table,
    `extra` at the end."""
    providers = _PROVIDERS[profile].format(openai=server.openai_base_url, anthropic=server.anthropic_base_url)
    path = folder / "config.toml"
    path.write_text(f'{extra_top}\ndefault_model = "fake:plain"\n{providers}{_STREAM[profile]}{extra}\n',
                    encoding="utf-8")
    return path


def temp_home(root: Path, server: Any, monkeypatch: pytest.MonkeyPatch | None = None, *,
              profile: str = "engine") -> Paths:
    """A MUXTUI_HOME at `root` with its folders and config. With `monkeypatch`, this process's
    environment points at it too: MUXTUI_HOME, the test key, and HOME and the XDG dirs beside
    `root`, so nothing reaches the real user's folders."""
    if monkeypatch is not None:
        monkeypatch.setenv("HOME", str(root.parent))
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
            monkeypatch.setenv(var, str(root.parent / var.lower()))
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("MUXTUI_HOME", str(root))
        monkeypatch.setenv("MUXTUI_TEST_KEY", TEST_KEY)
        monkeypatch.delenv("MUXTUI_TEST_MISSING_KEY", raising=False)
    paths = Paths.under(root)
    paths.ensure()
    write_config(paths.config_dir, server, profile=profile)
    return paths


def disk_history(paths: Paths, ws_id: str) -> list[dict[str, Any]]:
    """The workspace's history as a new process would load it from disk."""
    return list(Storage(paths.data_dir).store(ws_id).load_history().messages)
