"""An incremental Server-Sent Events parser (the WHATWG event-stream format).

``SSEDecoder.feed(bytes)`` returns the events completed by those bytes; ``aiter_sse`` wraps
an async byte iterator. Lines may end in LF, CRLF or CR, also split across reads. An event
is dispatched at a blank line only: a last event without its blank line is *not* complete
(``SSEDecoder.has_partial`` tells the caller something was cut off).

Hostile input never crashes the parser: bytes that are not UTF-8, or a line / an event
larger than the limits, raise ``SSEError`` with a clear message.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

__all__ = ["SSEError", "SSEEvent", "SSEDecoder", "aiter_sse", "DEFAULT_MAX_LINE", "DEFAULT_MAX_EVENT"]

DEFAULT_MAX_LINE = 32 * 1024 * 1024
DEFAULT_MAX_EVENT = 64 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"


class SSEError(ValueError):
    """The byte stream is not a valid event stream (bad encoding, oversized line...)."""


@dataclass(slots=True)
class SSEEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed bytes in, get complete events out. One decoder per stream."""

    __slots__ = (
        "max_line",
        "max_event",
        "_parts",
        "_parts_len",
        "_skip_lf",
        "_started",
        "_event",
        "_data",
        "_data_len",
        "_id",
        "_retry",
        "_fields_seen",
        "_offset",
        "_error",
    )

    def __init__(self, *, max_line: int = DEFAULT_MAX_LINE, max_event: int = DEFAULT_MAX_EVENT) -> None:
        self.max_line = max_line
        self.max_event = max_event
        self._parts: list[bytes] = []  # the unterminated tail of the current line
        self._parts_len = 0
        self._skip_lf = False  # the previous read ended in CR: a leading LF belongs to it
        self._started = False  # BOM handling
        self._event = ""
        self._data: list[str] = []
        self._data_len = 0
        self._id: str | None = None
        self._retry: int | None = None
        self._fields_seen = False
        self._offset = 0  # bytes consumed so far, for error messages
        self._error: SSEError | None = None

    @property
    def has_partial(self) -> bool:
        """True when bytes of an event arrived but its terminating blank line did not."""
        return bool(self._parts_len) or self._fields_seen

    def feed(self, data: bytes) -> list[SSEEvent]:
        """The events completed by ``data``. After an SSEError the decoder is dead: every
        later call raises it again."""
        if self._error is not None:
            raise self._error
        if not data:
            return []
        if not self._started:
            if self._parts_len + len(data) < 3 and _BOM.startswith(b"".join(self._parts) + data):
                self._parts.append(data)
                self._parts_len += len(data)
                return []
            if self._parts:
                data = b"".join(self._parts) + data
                self._parts.clear()
                self._parts_len = 0
            self._started = True
            if data.startswith(_BOM):
                data = data[3:]
                self._offset += 3
                if not data:
                    return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
                self._offset += 1
                if not data:
                    return []
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if cut < 0:
            self._parts.append(data)
            self._parts_len += len(data)
            if self._parts_len > self.max_line:
                self._error = SSEError(
                    f"event-stream line longer than {self.max_line} bytes (at byte {self._offset})"
                )
                self._parts.clear()
                raise self._error
            return []
        if self._parts:
            self._parts.append(data[: cut + 1])
            block = b"".join(self._parts)
            self._parts.clear()
        else:
            block = data[: cut + 1]
        rest = data[cut + 1 :]
        self._parts_len = len(rest)
        if rest:
            self._parts.append(rest)
        if not rest and block[-1:] == b"\r":
            self._skip_lf = True  # a CRLF may be split between this read and the next
        events: list[SSEEvent] = []
        try:
            for line in block.splitlines():
                if len(line) > self.max_line:
                    raise SSEError(
                        f"event-stream line longer than {self.max_line} bytes (at byte {self._offset})"
                    )
                self._line(line, events)
                self._offset += len(line) + 1
            if self._parts_len > self.max_line:
                raise SSEError(f"event-stream line longer than {self.max_line} bytes (at byte {self._offset})")
        except SSEError as exc:
            if not events:
                self._error = exc
                raise
            # Deliver the events that were complete before the bad line; the error
            # comes with the next feed() or close().
            self._error = exc
        return events

    def close(self) -> None:
        """End of input: raise the error held back by the last feed(), if any.

        A trailing partial event is not an error here (see ``has_partial``).
        """
        if self._error is not None:
            raise self._error

    def pending(self) -> SSEEvent | None:
        """At the end of input: the event that was cut off before its blank line (its last line
        may lack its end of line too), or None. The format says to drop it; a provider may
        accept it when its payload proves it whole (complete JSON such as ``message_stop``),
        since some servers close the connection right after the last event's data line."""
        if self._error is not None:
            return None
        events: list[SSEEvent] = []
        try:
            if self._parts:
                line = b"".join(self._parts)
                self._parts.clear()
                self._parts_len = 0
                self._line(line, events)
            self._line(b"", events)
        except SSEError:
            return None
        return events[0] if events else None

    def _line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if not raw:
            if self._data:
                events.append(SSEEvent(self._event or "message", "\n".join(self._data), self._id, self._retry))
            self._event = ""
            self._data = []
            self._data_len = 0
            self._retry = None
            self._fields_seen = False
            return
        if raw[0] == 0x3A:  # ":" comment / keep-alive
            return
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SSEError(
                f"event stream is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {self._offset + exc.start})"
            ) from None
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        self._fields_seen = True
        if name == "data":
            self._data_len += len(value) + 1
            if self._data_len > self.max_event:
                raise SSEError(f"event-stream event larger than {self.max_event} bytes")
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        # other field names are ignored, as the format requires


async def aiter_sse(
    source: AsyncIterable[bytes] | AsyncIterable[str],
    *,
    max_line: int = DEFAULT_MAX_LINE,
    max_event: int = DEFAULT_MAX_EVENT,
) -> AsyncIterator[SSEEvent]:
    """Yield complete events from an async iterator of byte chunks (any split) or of text
    lines without their terminators (as ``httpx.Response.aiter_lines`` gives them).

    A trailing event without its blank line is dropped, as the format requires.
    """
    decoder = SSEDecoder(max_line=max_line, max_event=max_event)
    async for chunk in source:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8", "surrogatepass") + b"\n"
        for event in decoder.feed(chunk):
            yield event
    decoder.close()
