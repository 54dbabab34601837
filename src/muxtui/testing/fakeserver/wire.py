"""HTTP/1.1 by hand for the fake server: reading a request, writing a response head, the
client going away. No framework, so every byte (and every fault) is under the server's control."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

__all__ = ["MAX_BODY", "BadRequest", "ClientGone", "Request", "drain", "key_of", "read_request", "route_options",
           "wait_eof", "write_head"]

MAX_BODY = 64 * 1024 * 1024
REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
    422: "Unprocessable Entity", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 529: "Overloaded",
}


class ClientGone(Exception):
    """The client closed the connection; stop serving it quietly."""


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    target: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        first = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return None  # the client closed an idle keep-alive connection
    if not (65 <= first[0] <= 90):
        # Not an HTTP method (e.g. a TLS ClientHello starts with 0x16): answer at once,
        # as real servers do, rather than wait for a blank line that never comes.
        raise BadRequest(400, "not an HTTP/1.1 request")
    try:
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        raise BadRequest(400, "incomplete request head") from None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"bad request line {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(400, "bad header line")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    body = b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts_: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            total += size
            if total > MAX_BODY:
                raise BadRequest(413, "request body too large")
            parts_.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts_)
    elif "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError:
            raise BadRequest(400, "bad content-length") from None
        if length > MAX_BODY:
            raise BadRequest(413, "request body too large")
        body = await reader.readexactly(length)
    return Request(method, target, target.split("?", 1)[0], version, headers, body)


def write_head(writer: asyncio.StreamWriter, status: int, headers: dict[str, str]) -> None:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    lines.append("date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
    lines.append("server: muxtui-fakeserver")
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


async def drain(writer: asyncio.StreamWriter) -> None:
    if writer.transport.is_closing():
        raise ClientGone()
    await writer.drain()


async def wait_eof(reader: asyncio.StreamReader) -> None:
    """Until the client closes its side (or the task is cancelled by stop())."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


def key_of(req: Request) -> str | None:
    auth = req.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return req.headers.get("x-api-key")


def route_options(req: Request) -> dict[str, str]:
    """``/x/<k=v&k=v>/rest``: options for requests that carry no model name to put a scenario
    in (GET /v1/models); the prefix is stripped, so a base_url of ``{base}/x/<opts>/v1`` also
    serves chat requests as usual."""
    if not req.path.startswith("/x/"):
        return {}
    _, _, opts, rest = (req.path + "/").split("/", 3)
    req.path = "/" + rest.rstrip("/") if rest.strip("/") else "/"
    return {k: v[-1] for k, v in parse_qs(opts, keep_blank_values=True).items()}

