"""Where the engine host keeps its socket, pid file, registration and log.

Everything sits in the runtime dir (muxtui.paths.Paths.runtime_dir), a folder only the user may
enter (0700, owned by them: checked, not assumed). A unix socket path is limited to 107 bytes
(``sun_path`` is 108 with its NUL); a longer one moves, under a hash of the long path, to
``/tmp/muxtui-$UID/``, which gets the same 0700-and-ours check (as tmux does for its folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from muxtui.paths import Paths

SUN_PATH_MAX = 107  # bytes, without the terminating NUL


class RuntimeDirError(Exception):
    """The runtime folder is not safe to put a socket in (another owner, open permissions)."""


@dataclass(frozen=True)
class HostPaths:
    run_dir: Path
    socket: Path
    pid_file: Path  # holds the engine's pid; the engine keeps an exclusive lock on it while it runs
    registration: Path  # JSON: pid, engine_id, version, protocol, socket, started_at
    spawn_lock: Path  # clients starting an engine take it, so that two never start two
    log_file: Path  # the detached engine's stdout and stderr

    @classmethod
    def of(cls, paths: Paths) -> "HostPaths":
        run = paths.runtime_dir
        return cls(
            run_dir=run,
            socket=socket_path(run / "engine.sock"),
            pid_file=run / "engine.pid",
            registration=run / "engine.json",
            spawn_lock=run / "spawn.lock",
            log_file=paths.log_dir / "engine.log",
        )

    def ensure(self) -> None:
        private_dir(self.run_dir)
        private_dir(self.socket.parent)
        self.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)


def read_registration(paths: Paths) -> dict | None:
    """The running engine's registration (pid, engine_id, version, protocol, socket), if any."""
    try:
        data = json.loads(HostPaths.of(paths).registration.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def socket_path(wanted: Path) -> Path:
    """`wanted`, or a short stand-in in /tmp/muxtui-$UID when it does not fit in sun_path."""
    if len(os.fsencode(wanted)) <= SUN_PATH_MAX:
        return wanted
    digest = hashlib.sha256(os.fsencode(wanted)).hexdigest()[:20]
    return Path("/tmp") / f"muxtui-{os.getuid()}" / f"{digest}.sock"


def private_dir(folder: Path) -> Path:
    """Make `folder` (0700) or check that the one there is ours and closed to others."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeDirError(f"{folder} is not a folder")
    if st.st_uid != os.getuid():
        raise RuntimeDirError(f"{folder} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}): "
                              "muxtui will not put its socket there")
    if stat.S_IMODE(st.st_mode) & 0o077:
        # A folder we made with another umask, or an old one: close it rather than refuse.
        os.chmod(folder, 0o700)
    return folder
