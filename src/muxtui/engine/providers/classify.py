"""Turning a provider's failure into a classified ``StreamError``, whatever the server's dialect.

Every failure an HTTP provider can meet ends up here: httpx exceptions (``classify_exception``),
non-2xx responses (``classify_status``) and error payloads inside a stream
(``classify_error_payload``). The result is always a ``StreamError`` with an ``ErrorType``,
the provider's own message, the HTTP status and ``retry_after`` when known.

The tables of error types and wordings are deliberately one, not one per provider: gateways
(OpenRouter, LiteLLM, Azure, vLLM) pass one vendor's errors through another's format, so an
OpenAI-compatible stream may carry Anthropic's ``overloaded_error``.

No message ever contains the API key: everything goes through ``redact``.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx

from muxtui.engine.errors import ErrorType, StreamError

__all__ = [
    "redact",
    "clip",
    "parse_retry_after",
    "retry_after_from_headers",
    "extract_error",
    "classify_status",
    "classify_error_payload",
    "classify_exception",
    "config_error",
]

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


def clip(text: str, limit: int = _MAX_MESSAGE) -> str:
    """The text on one line, cut to ``limit`` characters with an ellipsis."""
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
                    return clip(match.group(1)), None, None
                no_tags = re.sub(r"<[^>]+>", " ", stripped)
                return (clip(no_tags, 200) or None), None, None
            return clip(stripped, 300), None, None
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        data = data[0]  # some gateways wrap the error in a list
    if not isinstance(data, Mapping):
        return clip(str(data), 300), None, None
    err = data.get("error", data)
    if isinstance(err, str):
        return clip(err), _str(data.get("type")), _str(data.get("code"))
    if not isinstance(err, Mapping):
        err = data
    message = err.get("message") or err.get("detail") or data.get("message") or data.get("detail")
    if isinstance(message, (dict, list)):
        message = json.dumps(message)
    etype = _str(err.get("type"))
    if etype == "error" and isinstance(err.get("error"), Mapping):  # doubly wrapped
        return extract_error(err)
    code = _str(err.get("code"))
    return (clip(str(message)) if message else None), etype, code


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
    return StreamError(kind, redact(clip(text), secrets), status=status, provider=provider)


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
        redact(clip(text), secrets),
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
        return StreamError(kind, redact(clip(message), secrets), provider=provider)

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
