"""Shared HTTP plumbing for the providers: clients, and turning failures into StreamErrors.

Every failure a provider can meet ends up here: httpx exceptions (``classify_exception``),
non-2xx responses (``classify_status``) and error payloads inside a stream
(``classify_error_payload``). The result is always a ``StreamError`` with an ``ErrorType``,
the provider's own message, the HTTP status and ``retry_after`` when known.

No message ever contains the API key: everything goes through ``redact``.
"""

from __future__ import annotations

import asyncio

import json
import re
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx

from muxtui import __version__
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers.sse import SSEDecoder, SSEError, SSEEvent

__all__ = [
    "ERROR_BODY_LIMIT",
    "USER_AGENT",
    "build_timeout",
    "make_client",
    "shared_ssl_context",
    "warm",
    "redact",
    "parse_retry_after",
    "retry_after_from_headers",
    "read_error_body",
    "extract_error",
    "classify_status",
    "classify_error_payload",
    "classify_exception",
    "config_error",
    "HTTPProvider",
]

ERROR_BODY_LIMIT = 64 * 1024
USER_AGENT = f"muxtui/{__version__}"
_REDACTED = "[REDACTED]"
_MAX_MESSAGE = 500

_CONTEXT_WORDS = (
    "context_length_exceeded",
    "context length",
    "context_length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "reduce the length",
    "request_too_large",
    "string_above_max_length",
    "input is too long",
    "exceeds the context",
    "tokens exceed",
)
_QUOTA_WORDS = (
    "insufficient_quota",
    "exceeded your current quota",
    "quota",
    "billing",
    "credit balance",
    "insufficient credits",
    "insufficient_credits",
    "payment required",
)
_MODEL_WORDS = ("model_not_found", "does not exist", "no such model", "unknown model", "model not found")
# Said of a model in a 400 body (OpenRouter "x is not a valid model ID", Ollama "model 'x' not
# found, try pulling it first", vLLM "The model `x` does not exist.").
_MODEL_MISSING = ("does not exist", "not found", "not a valid model", "no such model", "unknown model",
                  "invalid model", "model_not_found")

# Error "type" values that blame the request (OpenAI/Groq, vLLM, Anthropic spellings).
_CLIENT_ERROR_TYPES = ("invalid_request_error", "badrequesterror", "bad_request", "invalid_request")

# Provider error "type"/"code" values, Anthropic's and OpenAI's (and close cousins').
_PAYLOAD_TYPES: dict[str, ErrorType] = {
    "authentication_error": ErrorType.AUTHENTICATION,
    "permission_error": ErrorType.AUTHENTICATION,
    "invalid_api_key": ErrorType.AUTHENTICATION,
    "unauthorized": ErrorType.AUTHENTICATION,
    "permission_denied": ErrorType.AUTHENTICATION,
    "not_found_error": ErrorType.MODEL_NOT_FOUND,
    "model_not_found": ErrorType.MODEL_NOT_FOUND,
    "rate_limit_error": ErrorType.RATE_LIMIT,
    "rate_limit_exceeded": ErrorType.RATE_LIMIT,
    "billing_error": ErrorType.QUOTA,
    "insufficient_quota": ErrorType.QUOTA,
    "overloaded_error": ErrorType.SERVER_ERROR,
    "api_error": ErrorType.SERVER_ERROR,
    "server_error": ErrorType.SERVER_ERROR,
    "internal_error": ErrorType.SERVER_ERROR,
    "service_unavailable": ErrorType.SERVER_ERROR,
    "timeout_error": ErrorType.TIMEOUT,
    "context_length_exceeded": ErrorType.CONTEXT_EXCEEDED,
    "request_too_large": ErrorType.CONTEXT_EXCEEDED,
}


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


# --------------------------------------------------------------------------- helpers


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Replace every secret (raw, JSON-escaped or repr'd) in text."""
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        forms = {secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]}
        try:
            forms.add(repr(secret.encode("utf-8"))[2:-1])
        except UnicodeEncodeError:
            pass
        for form in sorted(forms, key=len, reverse=True):
            if form:
                text = text.replace(form, _REDACTED)
    return text


def _clip(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a Retry-After value: delta-seconds (int or float) or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            return None
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 7231 dates are GMT
        from datetime import timezone

        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def retry_after_from_headers(headers: Mapping[str, str] | httpx.Headers | None) -> float | None:
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms)
            if value >= 0:
                return value / 1000.0
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))


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


def extract_error(body: bytes | str | Mapping[str, Any] | None) -> tuple[str | None, str | None, str | None]:
    """(message, type, code) from a provider error body, whatever its dialect.

    Handles OpenAI ``{"error": {"message", "type", "code"}}``, Anthropic
    ``{"type": "error", "error": {"type", "message"}}``, ``{"error": "text"}``,
    ``{"message": ...}``/``{"detail": ...}`` and plain text or HTML.
    """
    if body is None:
        return None, None, None
    data: Any = body
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        stripped = text.strip()
        if not stripped:
            return None, None, None
        try:
            data = json.loads(stripped)
        except ValueError:
            if stripped.startswith("<"):
                match = re.search(r"<title[^>]*>(.*?)</title>", stripped, re.I | re.S)
                if match:
                    return _clip(match.group(1)), None, None
                no_tags = re.sub(r"<[^>]+>", " ", stripped)
                return (_clip(no_tags, 200) or None), None, None
            return _clip(stripped, 300), None, None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        data = data[0]  # some gateways wrap the error in a list
    if not isinstance(data, Mapping):
        return _clip(str(data), 300), None, None
    err = data.get("error", data)
    if isinstance(err, str):
        return _clip(err), _str(data.get("type")), _str(data.get("code"))
    if not isinstance(err, Mapping):
        err = data
    message = err.get("message") or err.get("detail") or data.get("message") or data.get("detail")
    if isinstance(message, (dict, list)):
        message = json.dumps(message)
    etype = _str(err.get("type"))
    if etype == "error" and isinstance(err.get("error"), Mapping):  # doubly wrapped
        return extract_error(err)
    code = _str(err.get("code"))
    return (_clip(str(message)) if message else None), etype, code


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _has(words: tuple[str, ...], *texts: str | None) -> bool:
    hay = " ".join(t.lower() for t in texts if t)
    return any(w in hay for w in words)


def _model_missing(message: str | None) -> bool:
    text = (message or "").lower()
    return "model" in text and any(w in text for w in _MODEL_MISSING)


def _status_label(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return "529 Overloaded" if status == 529 else f"HTTP {status}"


# --------------------------------------------------------------------------- classification


def classify_error_payload(
    message: str | None,
    etype: str | None,
    code: str | None,
    *,
    provider: str | None,
    status: int | None = None,
    secrets: Iterable[str | None] = (),
    mid_stream: bool = True,
) -> StreamError:
    """An error reported inside a stream (OpenAI ``data: {"error":..}``, Anthropic
    ``event: error``), classified by its type/code and wording."""
    if code and code.isdigit() and status is None:
        status = int(code)  # OpenRouter puts the HTTP status in "code" of mid-stream errors
    if status is not None and not (200 <= status < 300):
        return _classify(status, message, etype, code, None, provider, secrets)
    kind = _kind_from_payload(message, etype, code)
    if kind is None and _has(_CLIENT_ERROR_TYPES, etype):
        kind = ErrorType.API  # the request itself was refused: sending it again cannot help
    if kind is None:
        kind = ErrorType.SERVER_ERROR if mid_stream else ErrorType.API
    what = etype or code or "error"
    text = f"{what}: {message}" if message else what
    if mid_stream:
        text = f"error event mid-stream: {text}"
    return StreamError(kind, redact(_clip(text), secrets), status=status, provider=provider)


def _kind_from_payload(message: str | None, etype: str | None, code: str | None) -> ErrorType | None:
    if _has(("request too large",), message):
        # OpenAI labels it rate_limit_exceeded, but more tokens than the per-minute limit can
        # never pass: as over HTTP (_classify), it is not worth a retry.
        return ErrorType.CONTEXT_EXCEEDED
    for key in (code, etype):
        if key and key.lower() in _PAYLOAD_TYPES:
            return _PAYLOAD_TYPES[key.lower()]
    if _has(_CONTEXT_WORDS, message, etype, code):
        return ErrorType.CONTEXT_EXCEEDED
    if _has(("overloaded",), message, etype):
        return ErrorType.SERVER_ERROR
    if _has(("insufficient_quota", "billing", "credit balance", "exceeded your current quota"), message, etype, code):
        return ErrorType.QUOTA
    if etype in ("tokens", "requests") or _has(("rate limit",), message):
        return ErrorType.RATE_LIMIT  # OpenAI labels rate-limit errors by the limit's unit
    return None


def classify_status(
    status: int,
    body: bytes | str | None,
    headers: Mapping[str, str] | httpx.Headers | None = None,
    *,
    provider: str | None,
    secrets: Iterable[str | None] = (),
    url: str | None = None,
) -> StreamError:
    """A non-2xx HTTP response: its status, refined by the provider's error body."""
    message, etype, code = extract_error(body)
    retry_after = retry_after_from_headers(headers)
    return _classify(status, message, etype, code, retry_after, provider, secrets, url=url)


def _classify(
    status: int,
    message: str | None,
    etype: str | None,
    code: str | None,
    retry_after: float | None,
    provider: str | None,
    secrets: Iterable[str | None],
    *,
    url: str | None = None,
) -> StreamError:
    secrets = list(secrets)
    detail = message or etype or code
    if status in (401, 403):
        kind = ErrorType.AUTHENTICATION
    elif status == 402:
        kind = ErrorType.QUOTA
    elif status == 413:
        kind = ErrorType.CONTEXT_EXCEEDED  # the request is too large: retrying cannot help
    elif status == 429:
        if _has(_QUOTA_WORDS, message, etype, code):
            kind = ErrorType.QUOTA
        elif _has(("request too large", "request_too_large"), message, etype, code):
            # OpenAI: one request larger than the tokens-per-minute limit never fits
            kind = ErrorType.CONTEXT_EXCEEDED
        else:
            kind = ErrorType.RATE_LIMIT
    elif status == 404:
        if _has(("model",), message, etype, code) or etype == "not_found_error":
            kind = ErrorType.MODEL_NOT_FOUND
        else:
            # Not about a model (an HTML page, "Invalid URL", "page not found"): the
            # endpoint itself is wrong, which is a base_url problem.
            kind = ErrorType.CONFIG
            where = f" at {url}" if url else ""
            detail = f"endpoint not found{where}: check base_url" + (f" ({detail})" if detail else "")
    elif status == 408:
        kind = ErrorType.TIMEOUT
    elif status >= 500:
        kind = ErrorType.SERVER_ERROR
    elif 400 <= status < 500:
        if _has(_CONTEXT_WORDS, message, etype, code):
            kind = ErrorType.CONTEXT_EXCEEDED
        elif _has(("insufficient_quota", "billing_error", "credit balance", "exceeded your current quota"), message, etype, code):
            kind = ErrorType.QUOTA
        elif _has(_MODEL_WORDS, code) or (etype == "not_found_error") or _model_missing(message):
            kind = ErrorType.MODEL_NOT_FOUND
        else:
            kind = ErrorType.API
    else:  # 1xx/3xx: nothing streamable came back
        kind = ErrorType.API
        if 300 <= status < 400:
            detail = "unexpected redirect: check base_url" + (f" ({detail})" if detail else "")
    text = _status_label(status) + (f": {detail}" if detail else "")
    return StreamError(
        kind,
        redact(_clip(text), secrets),
        status=status,
        retry_after=retry_after,
        provider=provider,
    )


def config_error(message: str, *, provider: str | None, secrets: Iterable[str | None] = ()) -> StreamError:
    return StreamError(ErrorType.CONFIG, redact(message, secrets), provider=provider)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 32:
        cur = todo.pop(0)
        if cur is None or any(cur is s for s in seen):
            continue
        seen.append(cur)
        if isinstance(cur, BaseExceptionGroup):
            todo.extend(cur.exceptions)
        todo.append(cur.__cause__)
        todo.append(cur.__context__)
    return [e for e in seen if e is not None]


def _host_of(request_url: str | httpx.URL | None) -> tuple[str, str]:
    if request_url is None:
        return "?", "?"
    try:
        url = httpx.URL(str(request_url))
        host = url.host or "?"
        port = url.port or (443 if url.scheme == "https" else 80)
        return host, f"{host}:{port}"
    except Exception:  # noqa: BLE001 - a URL that will not even parse
        return "?", "?"


def classify_exception(
    exc: BaseException,
    *,
    provider: str | None,
    url: str | httpx.URL | None = None,
    base_url: str | None = None,
    headers_received: bool = False,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    secrets: Iterable[str | None] = (),
) -> StreamError:
    """An httpx (or lower level) exception raised while sending or streaming."""
    if isinstance(exc, StreamError):
        return exc
    secrets = list(secrets)
    host, hostport = _host_of(url)

    def err(kind: ErrorType, message: str) -> StreamError:
        return StreamError(kind, redact(_clip(message), secrets), provider=provider)

    chain = _chain(exc)
    if isinstance(exc, BaseExceptionGroup):  # anyio can wrap a connect failure in a group
        leaves = [e for e in chain if not isinstance(e, BaseExceptionGroup)]
        bad = next((e for e in leaves if isinstance(e, (OverflowError, ValueError))), None)
        if bad is not None:
            shown = base_url if base_url is not None else (str(url) if url else "")
            return err(ErrorType.CONFIG, f"bad base_url {shown!r}: {bad}")
        if leaves:
            return classify_exception(
                leaves[0],
                provider=provider,
                url=url,
                base_url=base_url,
                headers_received=headers_received,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                secrets=secrets,
            )
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        shown = base_url if base_url is not None else (str(url) if url else "")
        return err(ErrorType.CONFIG, f"bad base_url {shown!r}: {exc}")
    if isinstance(exc, UnicodeEncodeError):
        return err(ErrorType.CONFIG, "a request header (API key or custom header) contains non-ASCII characters")
    if isinstance(exc, httpx.LocalProtocolError):
        return err(
            ErrorType.CONFIG,
            "invalid request (check the API key and custom headers for stray characters): " + str(exc),
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return err(ErrorType.TIMEOUT, f"could not connect to {hostport} within {_secs(connect_timeout)}")
    if isinstance(exc, httpx.PoolTimeout):
        return err(ErrorType.TIMEOUT, f"no free connection to {hostport} within {_secs(connect_timeout)}")
    if isinstance(exc, httpx.WriteTimeout):
        return err(ErrorType.TIMEOUT, f"sending the request to {hostport} stalled")
    if isinstance(exc, httpx.ReadTimeout):
        if headers_received:
            return err(ErrorType.TIMEOUT, f"no data for {_secs(read_timeout)} mid-stream")
        return err(ErrorType.TIMEOUT, f"no response from {hostport} for {_secs(read_timeout)}")
    if isinstance(exc, httpx.TimeoutException):
        return err(ErrorType.TIMEOUT, f"timed out talking to {hostport}: {exc}")
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        reason = getattr(tls, "verify_message", None)
        if not reason:
            match = re.search(r"\]\s*(.*?)\s*\(_ssl", str(tls))
            reason = match.group(1) if match else (getattr(tls, "reason", None) or str(tls))
        if "wrong version number" in reason.lower() or "record layer" in reason.lower():
            reason += " (is it a plain http:// server?)"
        return err(ErrorType.NETWORK, f"TLS error with {hostport}: {reason}")
    if isinstance(exc, httpx.ConnectError) or (isinstance(exc, OSError) and not headers_received):
        import socket

        if any(isinstance(e, socket.gaierror) for e in chain):
            return err(ErrorType.NETWORK, f"cannot resolve host {host}")
        if any(isinstance(e, ConnectionRefusedError) for e in chain):
            return err(ErrorType.NETWORK, f"connection refused by {hostport} (is the server running?)")
        if any(isinstance(e, TimeoutError) for e in chain):
            return err(ErrorType.TIMEOUT, f"could not connect to {hostport} within {_secs(connect_timeout)}")
        return err(ErrorType.NETWORK, f"cannot connect to {hostport}: {exc or type(exc).__name__}")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.CloseError, httpx.WriteError)) or isinstance(
        exc, OSError
    ):
        detail = str(exc) or _os_detail(chain) or type(exc).__name__
        if headers_received:
            return err(ErrorType.STREAM_TRUNCATED, f"connection to {hostport} broke mid-stream: {detail}")
        return err(ErrorType.NETWORK, f"{hostport} closed the connection without a response: {detail}")
    if isinstance(exc, httpx.DecodingError):
        return err(ErrorType.API, f"undecodable response body from {hostport}: {exc}")
    if isinstance(exc, httpx.ProxyError):
        return err(ErrorType.NETWORK, f"proxy error: {exc}")
    if isinstance(exc, httpx.TooManyRedirects):
        return err(ErrorType.CONFIG, f"too many redirects from {hostport}: check base_url")
    if isinstance(exc, httpx.TransportError):
        return err(ErrorType.NETWORK, f"transport error with {hostport}: {exc or type(exc).__name__}")
    return err(ErrorType.UNKNOWN, f"{type(exc).__name__}: {exc}")


def _os_detail(chain: list[BaseException]) -> str | None:
    for e in chain:
        if isinstance(e, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(e, OSError) and e.strerror:
            return e.strerror.lower()
    return None


def _secs(value: float | None) -> str:
    if value is None:
        return "the timeout"
    return f"{value:g} s"


# --------------------------------------------------------------------------- base class


class HTTPProvider:
    """What OpenAIProvider and AnthropicProvider share: the client, the request/response
    life cycle, stats, and turning every failure into a classified StreamError.

    Subclasses implement ``_prepare`` (URL, headers, JSON body) and ``_events`` (provider
    events from a 2xx event-stream response) and may override ``_events_from_json`` for a
    server that ignored ``stream: true``.
    """

    kind = "http"
    request_id_headers: tuple[str, ...] = ("x-request-id", "request-id")

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

    # -- the life cycle
    async def stream(self, request: Any) -> Any:  # AsyncIterator[ProviderEvent]
        if not self.base_url:
            raise config_error("base_url is empty", provider=self.name)
        url, headers, body = self._prepare(request)
        headers = {"accept": "text/event-stream", **self.extra_headers, **headers}
        stats = request.stats
        headers_received = False
        try:
            async with self.client.stream("POST", url, json=body, headers=headers) as response:
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
                            redact(f"malformed JSON response from server: {_clip(raw.decode('utf-8', 'replace'), 200)}", self.secrets),
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
            redact(f"malformed chunk from server: {_clip(data, 200)}", self.secrets),
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
