"""Writing a streamed reply: the protocol's events in HTTP chunks, batched when no delay is set,
with the scenario's gates and faults on the way. The server's own state (its lock, gates and
request records) is ``FakeServer``'s (server.py); this module is its streaming half."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import TYPE_CHECKING, Any

from muxtui.testing.fakeserver.anthropic import AnthropicWire
from muxtui.testing.fakeserver.openai import OpenAIWire
from muxtui.testing.fakeserver.responses import ResponsesWire
from muxtui.testing.fakeserver.scenario import Scenario, usage_for
from muxtui.testing.fakeserver.wire import ClientGone, drain, wait_eof, write_head

if TYPE_CHECKING:
    from muxtui.testing.fakeserver.core import Record
    from muxtui.testing.fakeserver.server import FakeServer

__all__ = ["BATCH_BYTES", "WIRES", "Out", "stream_reply"]

BATCH_BYTES = 256 * 1024
WIRES: dict[str, Any] = {"openai": OpenAIWire, "anthropic": AnthropicWire, "responses": ResponsesWire}


async def stream_reply(
    srv: FakeServer,
    protocol: str,
    sc: Scenario,
    payload: dict,
    rec: Record,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    id_header: dict,
    fault: str | None,
) -> bool:
    """Stream a 2xx reply in the protocol's events, with the scenario's pauses and faults;
    False when the connection must not be reused."""
    rid = rec.data["request_id"]
    wire: Any = WIRES[protocol](sc, payload, rid)
    reasoning = sc.reasoning_chunks()
    content = sc.content_chunks()
    usage = usage_for(sc, payload, len(content), len(reasoning))
    with srv._lock:
        rec.data["usage"] = usage
    out = Out(writer, srv, rec)
    write_head(
        writer,
        200,
        {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
            "connection": "keep-alive",
            **id_header,
        },
    )
    for ev in wire.head() if protocol == "openai" else wire.start(usage):
        out.add(ev)
    await out.flush()
    if sc.first_delay_ms:
        await asyncio.sleep(sc.first_delay_ms / 1000)

    items: list[tuple[bool, str]] = [(True, t) for t in reasoning] + [(False, t) for t in content]
    total = len(items)
    fault_at = min(sc.after, total) if fault and fault != "hang_headers" else -1
    pause_at = min(sc.pause_after, total) if sc.pause_after is not None else -1
    delay = sc.delay_ms / 1000
    batch = srv.batch_events
    for i in range(total + 1):
        if i == pause_at:
            await out.flush()
            await srv._pause(sc.gate or "", reader)
        if i == fault_at:
            ended = await _fault(fault or "", wire, out, reader, writer)
            if ended is not None:
                return ended
        if i == total:
            break
        is_reasoning, text = items[i]
        if is_reasoning:
            out.add(wire.reasoning(text), reasoning=text)
            if i == len(reasoning) - 1:
                for ev in wire.reasoning_end():
                    out.add(ev)
        else:
            out.add(wire.content(text), text=text)
        if delay:
            await out.flush()
            await asyncio.sleep(delay)
        elif out.count >= batch or out.size >= BATCH_BYTES:
            await out.flush()
    for ev in wire.tail(usage):
        out.add(ev)
    await out.flush()
    writer.write(b"0\r\n\r\n")
    await drain(writer)
    return True


async def _fault(
    fault: str, wire: Any, out: Out, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool | None:
    """Apply the fault; a bool ends the response (keep-alive or not), None goes on."""
    if fault == "malformed":
        out.add(wire.malformed())
        return None
    if fault == "garbage":
        out.add(b"data: \xff\xfe not utf-8 \xc3\x28\n\n")
        return None
    if fault == "error_event":
        out.add(wire.error_event())
        await out.flush()
        writer.write(b"0\r\n\r\n")
        await drain(writer)
        return True
    await out.flush()
    if fault == "close":
        writer.write(b"0\r\n\r\n")
        await drain(writer)
        return True
    if fault == "drop":
        writer.transport.abort()
        return False
    if fault == "reset":
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        return False
    if fault == "hang":
        await wait_eof(reader)
        return False
    raise AssertionError(f"unhandled fault {fault!r}")


class Out:
    """Buffers events and writes them as one HTTP chunk; text counts as sent once flushed."""

    __slots__ = ("writer", "server", "rec", "parts", "count", "size", "text", "reasoning")

    def __init__(self, writer: asyncio.StreamWriter, server: FakeServer, rec: Record) -> None:
        self.writer = writer
        self.server = server
        self.rec = rec
        self.parts: list[bytes] = []
        self.count = 0
        self.size = 0
        self.text: list[str] = []
        self.reasoning: list[str] = []

    def add(self, event: bytes, *, text: str | None = None, reasoning: str | None = None) -> None:
        self.parts.append(event)
        self.count += 1
        self.size += len(event)
        if text is not None:
            self.text.append(text)
        if reasoning is not None:
            self.reasoning.append(reasoning)

    async def flush(self) -> None:
        """Write the buffered events as one HTTP chunk and wait until the kernel has them.

        The text is recorded just *before* the write, so whatever a client has received is
        always in sent_text; after the flush the two are equal.
        """
        if self.parts:
            if self.writer.transport.is_closing():
                raise ClientGone()
            data = b"".join(self.parts)
            self.parts.clear()
            self.count = self.size = 0
            if self.text or self.reasoning:
                with self.server._lock:
                    self.rec.text.extend(self.text)
                    self.rec.reasoning.extend(self.reasoning)
                self.text.clear()
                self.reasoning.clear()
            self.writer.write(b"%x\r\n%b\r\n" % (len(data), data))
        await drain(self.writer)
