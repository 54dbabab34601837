"""HTTP transport for the providers: the client, timeouts, the request/response life cycle,
reading the SSE body, and handing every failure to ``classify`` so it leaves as a StreamError.

What to send and how to read each event is the provider's own knowledge (``_prepare`` and
``_events`` in openai.py, anthropic.py, openai_responses.py); which status or wording means
which error is ``classify.py``'s.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from muxtui import __version__
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers.base import ProviderClass
from muxtui.engine.providers.classify import classify_exception, classify_status, clip, config_error, redact
from muxtui.engine.providers.sse import SSEDecoder, SSEError, SSEEvent

if TYPE_CHECKING:
    from muxtui.config import Config, ProviderConfig

__all__ = [
    "ERROR_BODY_LIMIT",
    "USER_AGENT",
    "build_timeout",
    "make_client",
    "shared_ssl_context",
    "warm",
    "read_error_body",
    "HTTPProvider",
]

ERROR_BODY_LIMIT = 64 * 1024
USER_AGENT = f"muxtui/{__version__}"


# --------------------------------------------------------------------------- clients


def build_timeout(connect_timeout: float, read_timeout: float) -> httpx.Timeout:
    """connect/pool limit the wait for a socket; read is the longest silence mid-stream."""
    return httpx.Timeout(
        connect=connect_timeout,
        read=read_timeout,
        write=max(connect_timeout, read_timeout),
        pool=connect_timeout,
    )


_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """The one verified SSL context every client uses. httpx would build one per client, loading
    certifi's bundle each time: 60-400 ms holding the GIL. Same settings as httpx's default
    (``verify=True``: SSL_CERT_FILE / SSL_CERT_DIR, else certifi)."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def warm() -> None:
    """Pay at start-up, in a thread, what the first request would pay after Enter: the SSL
    context, and the modules httpx, httpcore and anyio import on their first client and their
    first connection (~100-250 ms on a loaded machine). Blocking; idempotent."""
    shared_ssl_context()
    import anyio._backends._asyncio  # noqa: F401  (anyio loads its event-loop backend on first use)
    import h11  # noqa: F401
    import httpcore  # noqa: F401  (httpx imports it when it builds its first transport)
    import httpcore._async.http11  # noqa: F401
    import httpcore._backends.anyio  # noqa: F401


def make_client(connect_timeout: float, read_timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=build_timeout(connect_timeout, read_timeout),
        headers={"user-agent": USER_AGENT},
        follow_redirects=False,
        verify=shared_ssl_context(),
    )


# --------------------------------------------------------------------------- responses


async def read_error_body(response: httpx.Response, limit: int = ERROR_BODY_LIMIT) -> bytes:
    """At most ``limit`` bytes of a (non-2xx) response body; never raises."""
    parts: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            parts.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except (httpx.HTTPError, httpx.StreamError):
        pass
    return b"".join(parts)[:limit]


# --------------------------------------------------------------------------- base class


class HTTPProvider(ProviderClass):
    """What the HTTP providers share: the client, the request/response life cycle, stats,
    and turning every failure into a classified StreamError.

    Subclasses implement ``_prepare`` (URL, headers, JSON body) and ``_events`` (provider
    events from a 2xx event-stream response) and may override ``_events_from_json`` for a
    server that ignored ``stream: true``; as ProviderClasses they say how their server lists
    its models (``models_request``).
    """

    request_id_headers: tuple[str, ...] = ("x-request-id", "request-id")
    lists_models = True

    @classmethod
    def from_config(cls, pc: ProviderConfig, cfg: Config) -> HTTPProvider:
        return cls(
            pc.name,
            pc.base_url or "",
            pc.resolve_key(),
            connect_timeout=cfg.stream.connect_timeout,
            read_timeout=cfg.stream.read_timeout,
            headers=pc.headers or None,
            **cls._config_kwargs(pc),
        )

    @classmethod
    def _config_kwargs(cls, pc: ProviderConfig) -> dict[str, Any]:
        """Constructor arguments from the type's own config keys (``config_options``)."""
        return {}

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        connect_timeout: float = 10,
        read_timeout: float = 60,
        headers: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self.base_url = (base_url or "").strip().rstrip("/")
        self.api_key = api_key or None
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.extra_headers = dict(headers or {})
        self._client = client
        self._owns_client = client is None

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,) if self.api_key else ()

    @property
    def client(self) -> httpx.AsyncClient:
        """Created on first use (building an SSL context costs tens of ms at start-up)."""
        if self._client is None:
            self._client = make_client(self.connect_timeout, self.read_timeout)
        return self._client

    async def prepare(self) -> None:
        """Build the client, in a thread unless ``warm()`` has run: the SSL context takes
        150-200 ms, which on the event loop would freeze every other stream and the keyboard.
        Once warm, a client costs well under a millisecond, and a thread hop would only make
        the request wait for the event loop to come back to it."""
        if self._client is None and _ssl_context is not None:
            self._client = make_client(self.connect_timeout, self.read_timeout)
        if self._client is None:
            client = await asyncio.to_thread(make_client, self.connect_timeout, self.read_timeout)
            if self._client is None:
                self._client = client
            else:
                await client.aclose()

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await client.aclose()

    # -- to implement
    def _prepare(self, request: Any) -> tuple[str, dict[str, str], dict[str, Any]]:
        raise NotImplementedError

    def _events(self, response: httpx.Response, request: Any) -> Any:  # AsyncIterator[ProviderEvent]
        raise NotImplementedError

    def _events_from_json(self, data: Any, request: Any) -> list[Any]:
        raise StreamError(
            ErrorType.API,
            "the server answered with JSON instead of an event stream",
            provider=self.name,
        )

    def _prepare_bytes(self, request: Any) -> tuple[str, dict[str, str], bytes]:
        url, headers, body = self._prepare(request)
        return url, headers, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    # -- the life cycle
    async def stream(self, request: Any) -> Any:  # AsyncIterator[ProviderEvent]
        if not self.base_url:
            raise config_error("base_url is empty", provider=self.name)
        if any(getattr(m, "attachments", ()) for m in getattr(request, "messages", ())):
            # Attached files: building the body means base64 and JSON of up to tens of MB
            # (~0.4 s for a 20 MB image), so it runs in a thread while other streams go on.
            url, headers, content = await asyncio.to_thread(self._prepare_bytes, request)
            payload: dict[str, Any] = {"content": content}
            headers = {**headers, "content-type": "application/json"}
        else:
            url, headers, body = self._prepare(request)
            payload = {"json": body}
        headers = {"accept": "text/event-stream", **self.extra_headers, **headers}
        stats = request.stats
        headers_received = False
        try:
            async with self.client.stream("POST", url, headers=headers, **payload) as response:
                headers_received = True
                stats.upstream_status = response.status_code
                for name in self.request_id_headers:
                    value = response.headers.get(name)
                    if value:
                        stats.request_id = value
                        break
                status = response.status_code
                if not 200 <= status < 300:
                    raw = await read_error_body(response)
                    stats.bytes += len(raw)
                    raise classify_status(
                        status, raw, response.headers, provider=self.name, secrets=self.secrets, url=url
                    )
                ctype = response.headers.get("content-type", "").lower()
                if "html" in ctype:
                    raise StreamError(
                        ErrorType.CONFIG,
                        f"{url} answered with a web page, not an API event stream: check base_url",
                        status=status,
                        provider=self.name,
                    )
                if ctype.startswith("application/json"):
                    raw = await read_error_body(response, limit=DEFAULT_JSON_LIMIT)
                    stats.bytes += len(raw)
                    try:
                        data = json.loads(raw)
                    except ValueError:
                        raise StreamError(
                            ErrorType.API,
                            redact(f"malformed JSON response from server: {clip(raw.decode('utf-8', 'replace'), 200)}", self.secrets),
                            status=status,
                            provider=self.name,
                        ) from None
                    for event in self._events_from_json(data, request):
                        yield event
                    return
                async for event in self._events(response, request):
                    yield event
        except StreamError:
            raise
        except SSEError as exc:
            raise StreamError(
                ErrorType.API, redact(f"malformed event stream from server: {exc}", self.secrets), provider=self.name
            ) from None
        except Exception as exc:  # every failure leaves as a classified StreamError (UNKNOWN at worst)
            error = classify_exception(
                exc,
                provider=self.name,
                url=url,
                base_url=self.base_url,
                headers_received=headers_received,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                secrets=self.secrets,
            )
            if any(s in str(exc) for s in self.secrets):
                raise error from None  # the original text holds the key: do not chain it
            raise error from exc

    async def sse_events(self, response: httpx.Response, stats: Any, head: bytearray) -> AsyncIterator[SSEEvent]:
        """The body's SSE events, counted in ``stats``, then a last event the server sent
        without its closing blank line when its data is whole (some real recordings end so; a
        cut-off one is left out, and the caller reports the stream truncated). Until the first
        event, the body's start is kept in ``head``: it may be one JSON document instead."""
        decoder = SSEDecoder()
        async for chunk in response.aiter_bytes():
            stats.bytes += len(chunk)
            if not stats.events and len(head) < JSON_HEAD_LIMIT:
                head += chunk
            for event in decoder.feed(chunk):
                stats.events += 1
                yield event
        decoder.close()  # a bad line at the very end
        last = decoder.pending()
        if last is not None and _whole(last.data):
            stats.events += 1
            yield last

    def json_instead(self, head: bytes, request: Any) -> list[Any] | None:
        """The events of a 2xx body labelled as an event stream that holds one JSON document
        instead (a server or proxy that ignored ``stream: true`` whatever its content type),
        or None when it is not one."""
        text = head.strip()
        if not text.startswith(b"{") or len(head) >= JSON_HEAD_LIMIT:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return self._events_from_json(data, request)

    def malformed(self, data: str) -> StreamError:
        return StreamError(
            ErrorType.API,
            redact(f"malformed chunk from server: {clip(data, 200)}", self.secrets),
            provider=self.name,
        )

    def truncated(self, what: str, stats: Any) -> StreamError:
        return StreamError(
            ErrorType.STREAM_TRUNCATED,
            f"the connection closed before {what} ({stats.events} events, {stats.bytes} bytes received)",
            provider=self.name,
        )


def _whole(data: str) -> bool:
    """The data of an event cut off at the end of the body is used only if it is complete."""
    if data.strip() == "[DONE]":
        return True
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


DEFAULT_JSON_LIMIT = 32 * 1024 * 1024
JSON_HEAD_LIMIT = 1024 * 1024  # bytes of an event-stream body kept in case it is JSON instead
