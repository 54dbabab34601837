"""Plain records the client API returns: what a client holds instead of engine objects.

Everything here is a frozen dataclass of JSON data with ``to_dict``/``from_dict``, so a snapshot
crosses a socket as it crosses a function call. Messages and queue items stay the dicts stored on
disk (docs/storage.md), so their bytes on disk and on the wire are the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from muxtui.engine.storage import WorkspaceInfo

__all__ = ["LiveReply", "WorkspaceInfo", "WorkspaceSnapshot", "info_from_dict"]


def info_from_dict(d: dict[str, Any]) -> WorkspaceInfo:
    names = {f.name for f in fields(WorkspaceInfo)}
    return WorkspaceInfo(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True, slots=True)
class LiveReply:
    """The reply in flight as far as it has arrived: a client shows this, then applies deltas
    whose ``seq`` is greater than the snapshot's."""

    request_id: str
    message_id: str
    model: str
    text: str = ""
    reasoning: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LiveReply":
        return cls(**d)


@dataclass(frozen=True, slots=True)
class WorkspaceSnapshot:
    """One workspace as the engine knows it at event ``seq``."""

    info: WorkspaceInfo
    messages: list[dict[str, Any]]  # the whole history (oldest first)
    queue: list[dict[str, Any]]
    live: LiveReply | None
    settings: dict[str, Any]  # effective settings (defaults merged)
    seq: int
    warnings: list[str] = field(default_factory=list)

    @property
    def streaming(self) -> bool:
        return self.live is not None

    def to_dict(self) -> dict[str, Any]:
        return {"info": self.info.to_dict(), "messages": self.messages, "queue": self.queue,
                "live": self.live.to_dict() if self.live else None, "settings": self.settings,
                "seq": self.seq, "warnings": self.warnings}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WorkspaceSnapshot":
        return cls(info=info_from_dict(d["info"]), messages=list(d["messages"]), queue=list(d["queue"]),
                   live=LiveReply.from_dict(d["live"]) if d.get("live") else None, settings=dict(d["settings"]),
                   seq=int(d["seq"]), warnings=list(d.get("warnings") or []))
