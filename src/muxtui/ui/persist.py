"""ui.json in the data dir: the last selected workspace and the composer drafts.

Drafts are written a moment after typing stops (and on switch and exit) so a crash or a
closed SSH session does not lose what was being typed. Writes are atomic and run in a thread.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muxtui.client import atomic

UI_FORMAT = 1
log = logging.getLogger("muxtui.ui")


@dataclass
class UIState:
    last_workspace: str | None = None
    drafts: dict[str, str] = field(default_factory=dict)
    sidebar: bool = True
    # The attachments of each draft: chip number -> the engine's ref (its chip is in the text).
    attachments: dict[str, dict[str, dict]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        drafts = {k: v for k, v in self.drafts.items() if v}
        out = {"version": UI_FORMAT, "last_workspace": self.last_workspace, "drafts": drafts,
               "sidebar": self.sidebar}
        attachments = {k: v for k, v in self.attachments.items() if v and drafts.get(k)}
        if attachments:
            out["attachments"] = attachments
        return out


def ui_file(data_dir: Path) -> Path:
    return Path(data_dir) / "ui.json"


def load(path: Path) -> UIState:
    try:
        raw = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return UIState()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return UIState()
    if not isinstance(raw, dict):
        return UIState()
    drafts = raw.get("drafts")
    drafts = {str(k): v for k, v in drafts.items() if isinstance(v, str)} if isinstance(drafts, dict) else {}
    last = raw.get("last_workspace")
    attachments = raw.get("attachments")
    attachments = {str(k): {str(n): r for n, r in v.items() if isinstance(r, dict)}
                   for k, v in attachments.items() if isinstance(v, dict)} if isinstance(attachments, dict) else {}
    return UIState(last_workspace=last if isinstance(last, str) else None, drafts=drafts,
                   sidebar=raw.get("sidebar") is not False, attachments=attachments)


def save(path: Path, state: dict[str, Any]) -> None:
    """Runs in a thread; `state` is a snapshot (to_dict()) taken on the event loop."""
    try:
        atomic.make_private_dir(path.parent)
        atomic.write_json(path, state)
    except OSError as exc:
        log.warning("cannot save %s: %s", path, exc)
