"""The wire: JSON-RPC 2.0 as newline-delimited JSON (one message per line, UTF-8), both ways.

What this module owns: the protocol version, message builders, the error codes, and a line reader
that bounds a line's length and finds the next line after an oversized one (so a client that
sends 200 MB gets an error, and the engine's memory stays bounded). docs/protocol.md is the spec.

Why hand-written: the framing is ``json.dumps(...) + "\\n"`` and the dispatch a dict look-up; the
PyPI options either bring their own session model and transport (aiorpcx), are dormant
(ajsonrpc), or do dispatch without a transport (jsonrpcserver). We need, besides, peer-credential
checks, per-client backpressure and batched event notifications, which none of them shape.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024 * 1024  # a message larger than this is refused (a 5 MB paste fits easily)
READ_CHUNK = 256 * 1024

# JSON-RPC 2.0's own codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Ours (the range -32000..-32099 is the spec's "server error" range).
COMMAND_FAILED = -32000  # the command ran and refused (no such workspace, bad model, ...)
VERSION_MISMATCH = -32001
NOT_READY = -32002  # a method other than hello/engine.* before a successful hello
LINE_TOO_LONG = -32003
SHUTTING_DOWN = -32004


class ProtocolError(Exception):
    """An error reply from the other side (or a broken message), with its JSON-RPC code."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class LineTooLong(Exception):
    def __init__(self, size: int):
        super().__init__(f"message of {size}+ bytes is over the limit of {MAX_LINE} bytes")
        self.size = size


def dumps(message: dict[str, Any]) -> bytes:
    # ensure_ascii=False keeps model text compact; lone surrogates never get here (engine fixes them).
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def dumps_lenient(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=repr).encode("utf-8", "replace") + b"\n"


def request(id_: int, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def result(id_: Any, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "result": value}


def error(id_: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": err}


def parse(line: bytes) -> dict[str, Any]:
    """One line -> a message dict; ProtocolError (parse error / invalid request) otherwise."""
    try:
        msg = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(PARSE_ERROR, f"parse error: {exc}") from None
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        # Batches (arrays) are not used by muxtui; saying so beats a silent drop.
        what = "a batch (array)" if isinstance(msg, list) else "not a JSON-RPC 2.0 object"
        raise ProtocolError(INVALID_REQUEST, f"invalid request: {what}")
    return msg


class LineReader:
    """Reads lines of at most `limit` bytes; an oversized one raises LineTooLong once and is
    skipped to its end, so the next readline() returns the line after it."""

    def __init__(self, reader: asyncio.StreamReader, limit: int = MAX_LINE):
        self._reader = reader
        self._limit = limit
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no newline (a long line is scanned once)
        self._skipping = False

    async def readline(self) -> bytes | None:
        """The next line without its newline; None at end of stream (a torn last line is dropped:
        the peer went away mid-message, and half a message is no message)."""
        while True:
            nl = self._buf.find(b"\n", self._scanned)
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                self._scanned = 0
                if self._skipping:
                    self._skipping = False
                    continue
                if nl > self._limit:
                    raise LineTooLong(nl)
                return line
            self._scanned = len(self._buf)
            if self._skipping:
                self._buf.clear()
                self._scanned = 0
            elif len(self._buf) > self._limit:
                size = len(self._buf)
                self._buf.clear()
                self._scanned = 0
                self._skipping = True
                raise LineTooLong(size)
            chunk = await self._reader.read(READ_CHUNK)
            if not chunk:
                return None
            self._buf += chunk
