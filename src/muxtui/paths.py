"""Where muxtui keeps its config, data and logs.

Default: the platform's user dirs (XDG on Linux). ``MUXTUI_HOME=DIR`` (or ``--home DIR``) puts
all three under one folder, with the config at ``DIR/config.toml``.
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
        return cls(config_dir=root, data_dir=root / "data", log_dir=root / "logs")

    @classmethod
    def default(cls, home: str | os.PathLike | None = None) -> "Paths":
        home = home or os.environ.get("MUXTUI_HOME")
        if home:
            return cls.under(home)
        user = Path.home()
        if sys.platform == "darwin":
            base = user / "Library" / "Application Support" / APP
            return cls(config_dir=base, data_dir=base / "data", log_dir=user / "Library" / "Logs" / APP)

        def xdg(var: str, fallback: Path) -> Path:
            value = os.environ.get(var)
            return Path(value) if value and Path(value).is_absolute() else fallback

        return cls(
            config_dir=xdg("XDG_CONFIG_HOME", user / ".config") / APP,
            data_dir=xdg("XDG_DATA_HOME", user / ".local" / "share") / APP,
            log_dir=xdg("XDG_STATE_HOME", user / ".local" / "state") / APP / "logs",
        )
