"""Where muxtui keeps its config, data and logs.

Default: the platform's user dirs (XDG on Linux). ``MUXTUI_HOME=DIR`` (or ``--home DIR``) puts
all three under one folder, with the config at ``DIR/config.toml``.

The engine's socket and pid file live in the runtime dir: ``$XDG_RUNTIME_DIR/muxtui`` when set,
else ``run/`` under the state dir (``DIR/run`` with ``MUXTUI_HOME``); see muxtui.host.paths.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

APP = "muxtui"


@dataclass(frozen=True)
class Paths:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    run_dir: Path | None = None  # None: next to the logs (the state dir)

    @property
    def runtime_dir(self) -> Path:
        return self.run_dir or self.log_dir.parent / "run"

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def themes_dir(self) -> Path:
        return self.config_dir / "themes"

    @property
    def workspaces_dir(self) -> Path:
        return self.data_dir / "workspaces"

    def ensure(self) -> None:
        for folder in (self.config_dir, self.data_dir, self.log_dir, self.workspaces_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    @classmethod
    def under(cls, home: str | os.PathLike) -> "Paths":
        root = Path(home).expanduser().absolute()
        return cls(config_dir=root, data_dir=root / "data", log_dir=root / "logs", run_dir=root / "run")

    @classmethod
    def default(cls, home: str | os.PathLike | None = None) -> "Paths":
        home = home or os.environ.get("MUXTUI_HOME")
        if home:
            return cls.under(home)
        user = Path.home()
        if sys.platform == "darwin":
            base = user / "Library" / "Application Support" / APP
            return cls(config_dir=base, data_dir=base / "data", log_dir=user / "Library" / "Logs" / APP,
                       run_dir=base / "run")

        def xdg(var: str, fallback: Path) -> Path:
            value = os.environ.get(var)
            return Path(value) if value and Path(value).is_absolute() else fallback

        runtime = os.environ.get("XDG_RUNTIME_DIR")
        state = xdg("XDG_STATE_HOME", user / ".local" / "state") / APP
        return cls(
            config_dir=xdg("XDG_CONFIG_HOME", user / ".config") / APP,
            data_dir=xdg("XDG_DATA_HOME", user / ".local" / "share") / APP,
            log_dir=state / "logs",
            run_dir=Path(runtime) / APP if runtime and Path(runtime).is_absolute() else state / "run",
        )
