"""The engine in this process, behind the client API's commands.

``Engine`` owns the storage, the logs, the stream manager and the search indexer. Every public
coroutine is a command of ``muxtui.client.COMMANDS``: it takes JSON-able keyword arguments and
returns plain data (records, dicts, lists, strings), never an engine object, so the engine host
can serve the same commands over a socket. Events reach subscribers in ``seq`` order.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import sqlite3
from dataclasses import replace
from typing import Any, Callable

from muxtui.client.records import LiveReply, WorkspaceSnapshot
from muxtui.config import Config
from muxtui.client.attachments import limits_of
from muxtui.engine import trash as trash_mod
from muxtui.engine.attachments import check_size, make_ref, safe_name, sniff
from muxtui.engine.catalog import ModelCatalog, ServerModels
from muxtui.engine.context import context_used, window_for
from muxtui.engine.errors import StreamError
from muxtui.engine.events import Event
from muxtui.engine.logs import EventLog
from muxtui.engine.manager import StreamManager
from muxtui.engine.search import Hit, Indexer, SearchIndex
from muxtui.engine.storage import Storage, WorkspaceInfo
from muxtui.engine.transfer import export_json, export_markdown, import_workspace
from muxtui.paths import Paths

Listener = Callable[[Event], None]


class Engine:
    """One per process that owns the data folder (the app embedded, the CLI, the engine host)."""

    embedded = True  # the engine runs in this process (an AttachedEngine says False)

    def __init__(self, paths: Paths, config: Config, *, event_log: EventLog | None = None,
                 storage: Storage | None = None, search: bool = True) -> None:
        paths.ensure()
        self.paths = paths
        self.config = config
        self.storage = storage or Storage(paths.data_dir)
        self.event_log = event_log or EventLog(paths.log_dir)
        self.manager = StreamManager(config, self.storage, self.event_log)
        self.indexer: Indexer | None = None
        if search:
            self.indexer = Indexer(paths.data_dir)  # search index, kept current in its own thread
            self.indexer.attach(self.manager)
        self._catalog: ModelCatalog | None = None
        self._server_models: dict[str, ServerModels] = {}  # the servers' model lists seen this run
        self._closed = False

    # ---- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Background work that must not delay the first frame: the search index, the trash."""
        if self.indexer is not None:
            self.indexer.start()  # builds or catches up in its thread; search works meanwhile
        asyncio.get_running_loop().run_in_executor(None, trash_mod.purge, self.storage)

    async def close(self, save_wait: float | None = None) -> None:
        """Commit every reply in flight as interrupted; stop the indexer. ``save_wait``: how long
        to keep trying to save what the disk refused (default: the engine's own)."""
        if self._closed:
            return
        self._closed = True
        if save_wait is not None:
            self.manager.shutdown_save_wait = save_wait
        if self.indexer is not None:
            await asyncio.to_thread(self.indexer.stop)
        await self.manager.shutdown()

    async def warm(self) -> None:
        """Pay the first request's one-time costs (SSL context, first-use imports: 100-400 ms)
        now, in a thread, instead of after Enter; only if an HTTP provider is usable."""
        usable = (pc for pc in self.config.providers.values() if not pc.needs_key or pc.resolve_key())
        if any(pc.type != "demo" for pc in usable):
            from muxtui.engine.providers import http

            await asyncio.to_thread(http.warm)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self.manager.subscribe(listener)

    @property
    def last_seq(self) -> int:
        return self.manager.last_seq

    async def storage_warnings(self) -> list[str]:
        """What the storage repaired or skipped while reading (damaged files, kept aside)."""
        return list(self.storage.warnings)

    async def workspaces_stamp(self) -> int | None:
        """Changes when another process adds or removes a workspace folder (one stat call)."""
        try:
            return self.storage.ws_root.stat().st_mtime_ns
        except OSError:
            return None

    # ---- workspaces ------------------------------------------------------------------------
    async def list_workspaces(self) -> list[WorkspaceInfo]:
        return [replace(i) for i in await self.manager.list_workspaces()]

    async def create_workspace(self, name: str, model: str | None = None) -> WorkspaceInfo:
        return replace(await self.manager.create_workspace(name, model))

    async def rename_workspace(self, workspace: str, name: str) -> WorkspaceInfo:
        return replace(await self.manager.rename_workspace(workspace, name))

    async def set_model(self, workspace: str, model: str) -> WorkspaceInfo:
        return replace(await self.manager.set_model(workspace, model))

    async def delete_workspace(self, workspace: str) -> None:
        await self.manager.delete_workspace(workspace)

    async def fork_workspace(self, workspace: str, upto_seq: int | None = None, name: str | None = None) -> WorkspaceInfo:
        return replace(await self.manager.fork_workspace(workspace, upto_seq, name))

    async def open_workspace(self, workspace: str, sync: bool = True) -> WorkspaceSnapshot:
        """Everything a client shows of one workspace, stamped with the last event's seq.

        ``sync``: first re-read the files if another process (`muxtui send`) wrote them."""
        await self.manager.open_workspace(workspace)
        if sync:
            await self.manager.sync_from_disk(workspace)
        return self._snapshot(workspace)

    def _snapshot(self, workspace: str) -> WorkspaceSnapshot:
        # One synchronous step: nothing can be emitted between reading the state and the seq.
        ws = self.manager.workspace(workspace)
        run = self.manager.current_run(workspace)
        live = None
        if run is not None and not run.closed:
            live = LiveReply(run.request_id, run.message_id, run.model, run.text, run.reasoning_text)
        return WorkspaceSnapshot(info=replace(ws.info), messages=list(ws.messages), queue=[dict(q) for q in ws.queue],
                                 live=live, settings=self.manager.effective_settings(workspace),
                                 seq=self.manager.last_seq, warnings=list(ws.warnings))

    async def peek_workspace(self, workspace: str) -> dict[str, Any]:
        """Badges without reading a long history: the last message (the file's tail) and the
        queue; a workspace that left a partial behind is opened, which recovers the partial."""
        ws = self.manager.workspace(workspace)
        if ws.opened:
            last = next((m for m in reversed(ws.messages) if m.get("role") == "assistant"), None)
            return {"last": last, "queue": list(ws.queue), "streaming": self.manager.is_streaming(workspace)}

        def peek() -> tuple[bool, list, dict | None]:
            store = ws.store
            if store.partial.exists():
                return True, [], None
            queue = store.load_queue()[0] if store.queue_file.exists() else []
            return False, queue, store.last_message()

        has_partial, queue, last = await asyncio.to_thread(peek)
        if has_partial:
            ws = await self.manager.open_workspace(workspace)  # commits the leftover partial
            last = next((m for m in reversed(ws.messages) if m.get("role") == "assistant"), None)
            queue = list(ws.queue)
        return {"last": last, "queue": queue, "streaming": self.manager.is_streaming(workspace)}

    async def history(self, workspace: str, before_seq: int | None = None, limit: int | None = None) -> list[dict]:
        """A page of history, oldest first: the ``limit`` messages before ``before_seq``."""
        ws = self.manager.workspace(workspace) if workspace in self.manager._workspaces else None
        if ws is not None and ws.opened:
            messages = ws.messages
        else:  # read only: a workspace nobody looks at is not kept in memory for this
            if ws is None:
                await self.manager.list_workspaces()
                ws = self.manager.workspace(workspace)
            messages = (await asyncio.to_thread(ws.store.load_history)).messages
        if before_seq is not None:
            messages = [m for m in messages if m.get("seq", before_seq) < before_seq]
        if limit is not None:
            messages = messages[-limit:] if limit > 0 else []
        return list(messages)

    async def get_settings(self, workspace: str, effective: bool = True) -> dict[str, Any]:
        """The settings a reply is sent with (``effective``: the defaults merged in), or only
        what this workspace sets itself."""
        ws = await self.manager.open_workspace(workspace)
        return self.manager.effective_settings(workspace) if effective else dict(ws.settings)

    async def set_settings(self, workspace: str, settings: dict[str, Any]) -> dict[str, Any]:
        return await self.manager.set_settings(workspace, settings)

    # ---- streams ---------------------------------------------------------------------------
    async def store_attachment(self, name: str, data: str, mime: str = "", kind: str = "") -> dict[str, Any]:
        """Store a file's bytes (``data``: base64) once, by their sha256, in the data folder; the
        reference to send with a message: ``{"id", "name", "mime", "kind", "size"}``. The kind
        and type come from the bytes (``kind`` is only the client's guess; ``mime`` names a text file's type);
        AttachmentError (a ValueError) for a binary that cannot be attached or a file over the
        ``[attachments]`` limit."""
        limits = limits_of(self.config.attachments)

        def store() -> dict[str, Any]:  # in a thread: a 20 MB image is decoded, sniffed and hashed
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError, TypeError):
                raise ValueError(f"{safe_name(name)}: the attachment data is not base64") from None
            found_kind, found_mime = sniff(name, raw)
            check_size(name, found_kind, len(raw), limits)
            if found_kind == "text" and mime.startswith("text/") and len(mime) <= 100:
                found_mime = mime
            digest, _ = self.manager.blobs.save(raw)
            return make_ref(digest, name, found_mime, found_kind, len(raw))

        return await asyncio.to_thread(store)

    async def send(self, workspace: str, text: str, attachments: list[dict[str, Any]] | None = None) -> str:
        """Send a message (``attachments``: references from ``store_attachment``): "started" or "queued"."""
        if self.config.context.auto_compact and not self.manager.is_streaming(workspace):
            info = await self.context(workspace, extra=text, attachments=attachments)
            if info["window"] and info["used"] > info["window"]:
                # Opt-in ([context] auto_compact): a summary first; if it cannot be made, the
                # message goes as it is (the provider then says whether it fits).
                with contextlib.suppress(StreamError, ValueError):
                    await self.manager.compact(workspace)
        return await self.manager.send(workspace, text, attachments)

    async def compact(self, workspace: str, retry: bool = False) -> dict[str, Any]:
        """Summarise the older part of the conversation (the summary record, docs/storage.md);
        ``retry``: then re-run the last turn (after a context_exceeded error). A failed summary
        writes nothing and raises the StreamError saying why."""
        try:
            return await self.manager.compact(workspace, retry)
        except StreamError as exc:  # a refusal the client shows, not an engine failure
            raise ValueError(f"could not compact ({exc.error_type}): {self.manager._runs.clean(exc.message)}") from None

    async def context(self, workspace: str, extra: str = "", attachments: list[dict[str, Any]] | None = None
                      ) -> dict[str, Any]:
        """How full the workspace's context is: ``used`` tokens (with ``extra`` text and
        ``attachments`` added),
        the model's ``window`` (None: unknown), ``estimated`` (part of ``used`` is chars/4) and
        ``source`` of the window (config, server, table, default, unknown)."""
        ws = await self.manager.open_workspace(workspace)
        window, source = self.context_window(ws.info.model)
        used, estimated = context_used(ws.messages, extra, attachments)
        return {"used": used, "window": window, "estimated": estimated, "source": source, "model": ws.info.model}

    def context_window(self, model: str) -> tuple[int | None, str]:
        cfg = self.config.context
        provider = model.partition(":")[0]
        server = self._server_models.get(provider)
        if server is None and provider in self.config.providers:
            server = self._model_catalog().cached(provider)  # a small file, read once per run
            if server is not None:
                self._server_models[provider] = server
        return window_for(model, configured=cfg.windows, server=server.windows if server else None,
                          default=cfg.window)

    async def interrupt(self, workspace: str, full: bool = False) -> str | dict[str, Any] | None:
        """Stop the stream; the queued text handed back (None: nothing queued), or with ``full``
        ``{"text", "attachments"}`` (the queued messages' attachments too)."""
        return await self.manager.interrupt(workspace, full)

    async def retry(self, workspace: str) -> str:
        return await self.manager.retry(workspace)

    async def edit_and_resend(self, workspace: str, seq: int, text: str,
                              attachments: list[dict[str, Any]] | None = None) -> str:
        """``attachments``: None keeps the message's own; a list (maybe empty) replaces them."""
        return await self.manager.edit_and_resend(workspace, seq, text, attachments)

    async def continue_reply(self, workspace: str) -> str:
        return await self.manager.continue_reply(workspace)

    async def send_now(self, workspace: str, item_ids: list[str] | None = None) -> str:
        return await self.manager.send_now(workspace, item_ids)

    async def wait_idle(self, workspace: str) -> None:
        await self.manager.wait_idle(workspace)

    async def streaming(self) -> list[str]:
        """The workspaces streaming now."""
        return [ws_id for ws_id in self.manager._workspaces if self.manager.is_streaming(ws_id)]

    # ---- queue -----------------------------------------------------------------------------
    async def edit_queued(self, workspace: str, item_id: str, text: str,
                          attachments: list[dict[str, Any]] | None = None) -> None:
        """``attachments``: None keeps the item's own; a list (maybe empty) replaces them."""
        await self.manager.edit_queued(workspace, item_id, text, attachments)

    async def remove_queued(self, workspace: str, item_id: str) -> dict | None:
        return await self.manager.remove_queued(workspace, item_id)

    async def pop_last_queued(self, workspace: str) -> dict | None:
        return await self.manager.pop_last_queued(workspace)

    # ---- replies the disk refused ----------------------------------------------------------
    async def unsaved(self, wait: float = 0.0) -> list[dict[str, Any]]:
        """Replies still only in memory (disk full), after up to ``wait`` s of trying to save."""
        if not self.manager.has_unsaved():
            return []
        return await self.manager.flush_unsaved(wait)

    async def pending_writes(self) -> dict[str, Any]:
        """What the disk refused and memory still holds: ``replies`` (messages) and ``any``
        (true also when only log records wait)."""
        return {"replies": self.manager.unsaved(), "any": self.manager.has_unsaved()}

    async def has_partial(self, workspace: str) -> bool:
        """A partial.json is on disk (the next start recovers it as an interrupted reply)."""
        return self.manager.workspace(workspace).store.partial.exists()

    # ---- trash, export, import ---------------------------------------------------------------
    async def list_trash(self) -> list[dict[str, Any]]:
        entries = await asyncio.to_thread(trash_mod.list_trash, self.storage)
        return [{"key": e.key, "id": e.id, "name": e.name, "model": e.model, "deleted_at": e.deleted_at}
                for e in entries]

    async def restore_workspace(self, key: str) -> WorkspaceInfo:
        """Bring a deleted workspace back (``key`` from ``list_trash``, or its name)."""
        entry = await asyncio.to_thread(trash_mod.find, self.storage, key)
        if entry is None:
            raise KeyError(f"nothing in the trash called {key!r}")
        info = await asyncio.to_thread(trash_mod.restore, self.storage, entry)
        await self.manager.list_workspaces()  # the engine learns about the folder
        return info

    async def export_workspace(self, workspace: str, format: str = "md") -> str:
        ws = await self.manager.open_workspace(workspace)
        if format == "json":
            return export_json(ws.info, ws.messages)
        if format == "md":
            return export_markdown(ws.info, ws.messages)
        raise ValueError(f"unknown export format {format!r} (md or json)")

    async def import_workspace(self, data: Any, name: str | None = None) -> WorkspaceInfo:
        info = await asyncio.to_thread(import_workspace, self.storage, data, name, self.config.default_model)
        await self.manager.list_workspaces()
        return info

    # ---- search, errors, models --------------------------------------------------------------
    async def search(self, query: str, limit: int = 50, workspace: str | None = None) -> list[Hit]:
        if not query.strip():
            return []
        if self.indexer is not None:
            return await asyncio.to_thread(self.indexer.index.search, query, limit, workspace)

        def once() -> list[Hit]:
            index = SearchIndex(self.paths.data_dir)
            try:
                return index.search(query, limit=limit, workspace=workspace)
            finally:
                index.close()

        return await asyncio.to_thread(once)

    async def catch_up_search(self) -> str | None:
        """Bring the index up to date now (cheap when current: one stat per workspace); a
        warning when it could not be (results may then be incomplete)."""
        def sync() -> str | None:
            index = self.indexer.index if self.indexer is not None else SearchIndex(self.paths.data_dir)
            try:
                index.sync_all()
            except sqlite3.OperationalError as exc:  # e.g. the app's indexer holds it for long
                return f"search index not updated ({exc}); results may be incomplete"
            finally:
                if self.indexer is None:
                    index.close()
            return None

        return await asyncio.to_thread(sync)

    async def search_ready(self) -> bool:
        """The index has caught up once (until then results may miss recent messages)."""
        return self.indexer is None or self.indexer.ready.is_set()

    async def refresh_search(self) -> None:
        """Catch up with writes of other processes, in the indexer's thread (returns at once)."""
        if self.indexer is not None:
            self.indexer.schedule()

    async def logs(self, kind: str = "errors", n: int = 50) -> dict[str, Any]:
        """The last ``n`` records of the error log (``kind="errors"``) or the audit log, and the
        file they come from."""
        if kind not in ("errors", "audit"):
            raise ValueError(f"unknown log {kind!r} (errors or audit)")
        log = self.event_log
        records = await asyncio.to_thread(log.audit if kind == "audit" else log.errors, n)
        return {"records": records, "file": str(log.audit_file if kind == "audit" else log.errors_file)}

    async def purge_trash(self) -> list[str]:
        """Remove what has been in the trash longer than it is kept."""
        return await asyncio.to_thread(trash_mod.purge, self.storage)

    async def error_groups(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.event_log.grouped_errors)

    def _model_catalog(self) -> ModelCatalog:
        """What the servers list, cached in the data folder; made on first use."""
        if self._catalog is None:
            self._catalog = ModelCatalog(self.config, self.paths.data_dir / "cache")
        return self._catalog

    async def models(self, fetch: bool = False, refresh: bool = False) -> list[str]:
        """Models to pick from: configured, cached and (``fetch``) asked of every server now."""
        catalog = self._model_catalog()
        if fetch:
            lists = await catalog.fetch_all(refresh=refresh)
            self._server_models.update({sm.provider: sm for sm in lists})
        return catalog.listing(self._server_models.values())


@contextlib.asynccontextmanager
async def running(paths: Paths, config: Config, **kwargs: Any):
    """An engine for one CLI command: started, and closed (partials committed) at the end."""
    engine = Engine(paths, config, **kwargs)
    try:
        yield engine
    finally:
        await engine.close()
