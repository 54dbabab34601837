"""STAND-IN until the client API (issue 11, ``muxtui.client``) lands: delete this file then.

A thin Engine over today's StreamManager with the interface the lead committed to: events with a
``seq`` (assigned here), ``subscribe``, ``last_seq``, ``snapshot()``, ``COMMANDS`` with
encode/decode. Only muxtui.host.api imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from muxtui.config import Config
from muxtui.engine import events as ev
from muxtui.engine.logs import EventLog
from muxtui.engine.manager import StreamManager
from muxtui.engine.storage import Storage, WorkspaceInfo
from muxtui.paths import Paths


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    workspace: str
    seq: int
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "workspace": self.workspace, "seq": self.seq, **self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Event":
        d = dict(d)
        return cls(d.pop("type"), d.pop("workspace"), d.pop("seq"), d)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Command:
    name: str
    encode: Callable[[Any], Any] = _same
    decode: Callable[[Any], Any] = _same


def _info_list(infos: list[WorkspaceInfo]) -> list[dict[str, Any]]:
    return [i.to_dict() for i in infos]


def _info(info: WorkspaceInfo) -> dict[str, Any]:
    return info.to_dict()


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("list_workspaces", _info_list, lambda xs: [WorkspaceInfo(**d) for d in xs]),
        Command("create_workspace", _info, lambda d: WorkspaceInfo(**d)),
        Command("rename_workspace", _info, lambda d: WorkspaceInfo(**d)),
        Command("set_model", _info, lambda d: WorkspaceInfo(**d)),
        Command("delete_workspace"),
        Command("send"),
        Command("interrupt"),
        Command("retry"),
        Command("history"),
        Command("remove_queued"),
    )
}


class Engine:
    def __init__(self, paths: Paths, config: Config):
        self.manager = StreamManager(config, Storage(paths.data_dir), EventLog(paths.log_dir))
        self.last_seq = 0
        self._listeners: list[Callable[[Event], None]] = []
        self.manager.subscribe(self._on_event)

    def _on_event(self, event: ev.Event) -> None:
        self.last_seq += 1
        data = dict(event.data)
        if "workspace" in data:  # today's WorkspaceInfo field would shadow the workspace id
            data["info"] = data.pop("workspace")
        stamped = Event(event.type, event.workspace, self.last_seq, data)
        for listener in list(self._listeners):
            listener(stamped)

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def start(self) -> None:
        # A kill -9'd engine left partials: commit them now, not when a client opens the workspace.
        for info in await self.manager.list_workspaces():
            if self.manager.storage.store(info.id).partial.exists():
                await self.manager.open_workspace(info.id)

    async def close(self) -> None:
        await self.manager.shutdown()

    # ---- commands ------------------------------------------------------------------------
    async def list_workspaces(self) -> list[WorkspaceInfo]:
        return await self.manager.list_workspaces()

    async def create_workspace(self, name: str, model: str | None = None) -> WorkspaceInfo:
        return await self.manager.create_workspace(name, model)

    async def rename_workspace(self, workspace: str, name: str) -> WorkspaceInfo:
        return await self.manager.rename_workspace(workspace, name)

    async def set_model(self, workspace: str, model: str) -> WorkspaceInfo:
        return await self.manager.set_model(workspace, model)

    async def delete_workspace(self, workspace: str) -> None:
        await self.manager.delete_workspace(workspace)

    async def send(self, workspace: str, text: str) -> str:
        return await self.manager.send(workspace, text)

    async def interrupt(self, workspace: str) -> str | None:
        return await self.manager.interrupt(workspace)

    async def retry(self, workspace: str) -> str:
        return await self.manager.retry(workspace)

    async def history(self, workspace: str) -> list[dict[str, Any]]:
        ws = await self.manager.open_workspace(workspace)
        return [dict(m) for m in ws.messages]

    async def remove_queued(self, workspace: str, item_id: str) -> dict | None:
        return await self.manager.remove_queued(workspace, item_id)

    async def snapshot(self, workspace: str | None = None) -> dict[str, Any]:
        infos = await self.manager.list_workspaces()
        ids = [i.id for i in infos if workspace in (None, i.id)]
        for ws_id in ids:
            await self.manager.open_workspace(ws_id)
        # From here to the return nothing awaits: the state is the state at last_seq.
        out = []
        for ws_id in ids:
            try:
                ws = self.manager.workspace(ws_id)
            except KeyError:
                continue  # deleted while we awaited
            run = self.manager.current_run(ws_id)
            live = None
            if run is not None:
                live = {"request_id": run.request_id, "message_id": run.message_id, "model": run.model,
                        "text": run.text, "reasoning": run.reasoning_text}
            # The shape of the client API's WorkspaceSnapshot.to_dict().
            out.append({"info": ws.info.to_dict(), "messages": [dict(m) for m in ws.messages],
                        "queue": [dict(q) for q in ws.queue], "live": live,
                        "settings": self.manager.effective_settings(ws_id), "seq": self.last_seq,
                        "warnings": list(ws.warnings)})
        return {"seq": self.last_seq, "workspaces": out}
