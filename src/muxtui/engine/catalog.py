"""Which models each provider's server offers, asked with ``GET /models`` and cached per provider.

How to ask a server (URL, headers, pages, the names it gives) is its provider class's
knowledge (``ProviderClass.list_models``, found through ``registry``): OpenAI-compatible servers
answer ``GET {base_url}/models``, Anthropic ``GET {base_url}/v1/models`` page by page. This
module owns when to ask, the cache and what a failure means for the user.

Each provider's answer is kept in ``<cache_dir>/models/<provider>.json`` with the time it was
fetched; ``ModelCatalog.fetch`` asks the server again only when that is older than ``ttl`` or
when asked to refresh. A server without the endpoint (404), or one that cannot be reached,
is not an error for the user: the list stays what the config names (plus the last list the
server gave, if any), and the reason is kept for ``muxtui models`` and ``muxtui doctor``.

The model picker shows ``listing()``: the configured models first, then the server's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from muxtui import atomic
from muxtui.engine.features import file_name
from muxtui.engine.providers import registry
from muxtui.engine.providers.base import model_ids

__all__ = ["CACHE_TTL", "ModelCatalog", "ServerModels", "file_name", "listable", "stated_windows"]

CACHE_TTL = 24 * 3600.0
FAILURE_TTL = 300.0  # a server that could not be reached is asked again sooner
FORMAT = 1
_NO_ENDPOINT = (404, 405, 501)


def listable(provider_type: str) -> bool:
    """Whether servers of this provider type have a models endpoint to ask."""
    try:
        return registry.get(provider_type).lists_models
    except KeyError:
        return False


@dataclass(frozen=True, slots=True)
class ServerModels:
    """What one provider's server said about its models, last time it was asked."""

    provider: str
    models: tuple[str, ...] = ()  # as the server names them, without the "provider:" prefix
    fetched_at: float | None = None  # when the server last answered with a list
    checked_at: float | None = None  # when it was last asked (with or without an answer)
    supported: bool | None = None  # True: the endpoint answered; False: it has none; None: unknown
    error: str | None = None  # why the last ask gave no list, in the user's words
    windows: dict[str, int] = field(default_factory=dict)  # context windows the list states (model → tokens)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "provider": self.provider,
            "models": list(self.models),
            "fetched_at": self.fetched_at,
            "checked_at": self.checked_at,
            "supported": self.supported,
            "error": self.error,
            "windows": dict(self.windows),
        }

    @classmethod
    def from_dict(cls, data: Any, provider: str) -> ServerModels | None:
        if not isinstance(data, dict) or data.get("provider") != provider:
            return None
        models = data.get("models")
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            return None

        def num(key: str) -> float | None:
            value = data.get(key)
            return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

        supported = data.get("supported")
        error = data.get("error")
        windows = data.get("windows")  # absent in caches written before context windows were kept
        return cls(
            provider,
            tuple(models),
            num("fetched_at"),
            num("checked_at"),
            supported if isinstance(supported, bool) else None,
            error if isinstance(error, str) else None,
            {k: v for k, v in windows.items() if isinstance(k, str) and type(v) is int and v > 0}
            if isinstance(windows, dict) else {},
        )


@dataclass
class ModelCatalog:
    """The server lists of every configured provider, from the cache or the servers."""

    config: Any  # muxtui.config.Config
    cache_dir: Path
    clock: Callable[[], float] = time.time
    ttl: float = CACHE_TTL
    failure_ttl: float = FAILURE_TTL
    timeout: float | None = None  # seconds per request; default: the config's connect/read timeouts
    _inflight: dict[str, asyncio.Task] = field(default_factory=dict, init=False, repr=False)

    # -- what the user configured

    def providers(self) -> list[str]:
        return list(self.config.providers)

    def can_list(self, name: str) -> bool:
        """A provider whose server can be asked: a listable type with a URL and, when it needs
        one, its key."""
        pc = self.config.providers.get(name)
        if pc is None or not listable(pc.type) or not pc.base_url:
            return False
        return not (pc.needs_key and not pc.resolve_key())

    def listing(self, lists: Iterable[ServerModels] = ()) -> list[str]:
        """Every "provider:model" for the picker: the configured ones first (in config order),
        then each provider's server models not already named."""
        seen: dict[str, None] = dict.fromkeys(self.config.models())
        for sm in lists:
            for model in sm.models:
                seen.setdefault(f"{sm.provider}:{model}", None)
        return list(seen)

    # -- the cache

    def cache_file(self, name: str) -> Path:
        return self.cache_dir / "models" / file_name(name)

    def cached(self, name: str) -> ServerModels | None:
        """The last answer on disk (None when there is none or it cannot be read)."""
        try:
            data = json.loads(self.cache_file(name).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return ServerModels.from_dict(data, name)

    def is_fresh(self, sm: ServerModels | None) -> bool:
        if sm is None or sm.checked_at is None:
            return False
        ttl = self.failure_ttl if sm.error and sm.supported is not False else self.ttl
        return 0 <= self.clock() - sm.checked_at < ttl

    def _save(self, sm: ServerModels) -> None:
        path = self.cache_file(sm.provider)
        try:
            atomic.make_private_dir(self.cache_dir)
            atomic.make_private_dir(path.parent)
            atomic.write_text(path, json.dumps(sm.to_dict(), ensure_ascii=False))
        except OSError:
            pass  # a cache: the next start asks the server again

    # -- asking the servers

    async def fetch(self, name: str, *, refresh: bool = False, client: httpx.AsyncClient | None = None) -> ServerModels:
        """The provider's server list: from the cache when fresh, else from the server.

        Never raises for a server problem: the result carries ``error`` and keeps the models
        of the last good answer. Concurrent calls for one provider share one request.
        """
        cached = await asyncio.to_thread(self.cached, name)
        if not self.can_list(name):
            return cached or ServerModels(name)
        if not refresh and self.is_fresh(cached):
            assert cached is not None
            return cached
        task = self._inflight.get(name)
        if task is None or task.done():
            task = asyncio.ensure_future(self._ask(name, cached, client))
            self._inflight[name] = task
        return await asyncio.shield(task)

    async def fetch_all(self, names: Iterable[str] | None = None, *, refresh: bool = False) -> list[ServerModels]:
        names = list(self.providers() if names is None else names)
        return list(await asyncio.gather(*(self.fetch(n, refresh=refresh) for n in names)))

    async def _ask(self, name: str, cached: ServerModels | None, client: httpx.AsyncClient | None) -> ServerModels:
        pc = self.config.providers[name]
        now = self.clock()
        own = client is None
        if client is None:
            from muxtui.engine.providers.http import make_client

            stream = self.config.stream
            connect = self.timeout or stream.connect_timeout
            read = self.timeout or min(stream.read_timeout, 30.0)
            client = await asyncio.to_thread(make_client, connect, read)  # its SSL context takes ~150 ms
        key = pc.resolve_key()
        windows: dict[str, int] = {}
        try:
            models = await _list_models(client, pc, key, windows)
        except _NoList as exc:
            result = ServerModels(
                name,
                cached.models if cached else (),
                cached.fetched_at if cached else None,
                now,
                exc.supported,
                _redact(str(exc), key, pc),
            )
        else:
            result = ServerModels(name, tuple(models), now, now, True, None, windows)
        finally:
            if own:
                await client.aclose()
        await asyncio.to_thread(self._save, result)
        return result


class _NoList(Exception):
    def __init__(self, message: str, supported: bool | None) -> None:
        super().__init__(message)
        self.supported = supported


async def _list_models(client: httpx.AsyncClient, pc: Any, key: str | None,
                       windows: dict[str, int] | None = None) -> list[str]:
    async def get_json(url: str, headers: dict[str, str], params: dict | None) -> Any:
        data = await _get_json(client, url, headers, params)
        if windows is not None:
            windows.update(stated_windows(data))  # each page's, as the provider class pages through
        return data

    return await registry.get(pc.type).list_models(pc, key, get_json)


async def _get_json(client: httpx.AsyncClient, url: str, headers: dict[str, str], params: dict | None) -> Any:
    try:
        response = await client.get(url, headers=headers, params=params)
    except httpx.TimeoutException:
        raise _NoList("the server did not answer in time", None) from None
    except (httpx.HTTPError, OSError, ValueError) as exc:  # connection refused, DNS, bad URL
        raise _NoList(f"cannot reach the server ({type(exc).__name__})", None) from None
    status = response.status_code
    if status in _NO_ENDPOINT:
        raise _NoList(f"the server has no models endpoint (HTTP {status})", False)
    if status in (401, 403):
        raise _NoList(f"the server refused the key (HTTP {status})", None)
    if not 200 <= status < 300:
        raise _NoList(f"the server answered HTTP {status}", None)
    try:
        data = response.json()
    except ValueError:
        raise _NoList("the server's model list is not JSON", False) from None
    if not model_ids(data) and not (isinstance(data, dict) and isinstance(data.get("data"), list)):
        raise _NoList("the server's reply is not a model list", False)
    return data


# Where model lists state a context window: OpenRouter, Together, Groq ("context_length", and
# OpenRouter's "top_provider.context_length"), vLLM ("max_model_len"), LM Studio
# ("max_context_length"), Mistral ("max_context_length"), Anthropic ("max_input_tokens"), others
# "context_window".
WINDOW_KEYS = ("context_length", "context_window", "max_model_len", "max_context_length", "max_input_tokens")


def stated_windows(data: Any) -> dict[str, int]:
    """model id → context window, for the entries of a model list that state one."""
    items = data.get("data", data.get("models")) if isinstance(data, dict) else data
    out: dict[str, int] = {}
    if not isinstance(items, list):
        return out
    for item in items:
        if not isinstance(item, dict):
            continue
        ident = item.get("id") or item.get("name")
        top = item.get("top_provider")
        for value in (*(item.get(k) for k in WINDOW_KEYS), top.get("context_length") if isinstance(top, dict) else None):
            if isinstance(ident, str) and type(value) is int and value > 0:
                out[ident.strip()] = value
                break
    return out


def _redact(text: str, key: str | None, pc: Any) -> str:
    for secret in (key, *(pc.headers or {}).values()):
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
