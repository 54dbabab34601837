"""The real `muxtui` command in a subprocess (python -m muxtui), on the temp home's folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from muxtui.paths import Paths
from tests.helpers.home import TEST_KEY

COMMAND = [sys.executable, "-m", "muxtui"]


def muxtui_env(home: Paths | Path | None, **extra: str) -> dict[str, str]:
    """This process's environment, with MUXTUI_HOME at `home` (None: as it is) and the test key."""
    env = {**os.environ, "MUXTUI_TEST_KEY": TEST_KEY, **extra}
    if home is not None:
        env["MUXTUI_HOME"] = str(home.config_dir if isinstance(home, Paths) else home)
    return env


def muxtui(home: Paths | Path | None, *args: str, env_extra: dict[str, str] | None = None, text: bool = True,
           timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess:
    """Run `muxtui ARGS` to the end; stdout and stderr captured (str, or bytes with text=False:
    no newline translation)."""
    return subprocess.run([*COMMAND, *args], capture_output=True, text=text, env=muxtui_env(home, **(env_extra or {})),
                          timeout=timeout, **kw)


def spawn(home: Paths | Path | None, *args: str, env_extra: dict[str, str] | None = None,
          **kw: Any) -> subprocess.Popen:
    """Start `muxtui ARGS` (stdout and stderr pipes of text unless `kw` says otherwise)."""
    kw = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **kw}
    return subprocess.Popen([*COMMAND, *args], env=muxtui_env(home, **(env_extra or {})), **kw)


def history(home: Paths | Path | None, ws: str) -> dict[str, Any]:
    """`muxtui history -w WS --json`, which must succeed."""
    out = muxtui(home, "history", "-w", ws, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
