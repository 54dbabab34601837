"""Recorded provider responses, replayed byte for byte by the fake server.

A fixture is two files in the fixtures folder (``tests/fixtures/streams/`` by default, or
``$MUXTUI_REPLAY_DIR``):

``<name>.body``  the response body as recorded (raw event-stream bytes, a JSON error body, or,
                 with ``"framing": "jsonl"``, one JSON chunk per line as the AI SDK stores them)
``<name>.json``  how to serve it and what a client must make of it::

    {
      "provider": "Groq",               who recorded it (SOURCES.md says where it comes from)
      "protocol": "openai",             "openai" (/v1/chat/completions), "anthropic" (/v1/messages)
                                        or "responses" (OpenAI's /v1/responses)
      "status": 200,                    HTTP status (default 200)
      "headers": {"retry-after": "2"},  extra response headers (content-type has a default)
      "gzip": false,                    send the body gzip-compressed (content-encoding: gzip)
      "framing": "raw",                 "raw": the body as is; "jsonl": each non-empty line becomes
                                        "data: <line>\\n\\n" (anthropic, responses: with "event: <type>")
      "done": true,                     jsonl only: end with "data: [DONE]\\n\\n"
      "next": "other-fixture",          what the next request for the same model string gets
      "expect": {...}                   read by the replay test only
    }

The fake server serves a fixture for the model ``replay:<name>`` (or ``replay:<name>#<tag>``: the
tag only makes the model string unique, since "next" chains count requests per model string), on
either API path, so the app's real HTTP path (httpx, SSE parser, provider, manager) is exercised.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Fixture", "ReplayError", "fixtures_dir", "fixture_names", "load_fixture", "PREFIX"]

PREFIX = "replay:"


class ReplayError(ValueError):
    """A fixture that is missing or malformed."""


@dataclass
class Fixture:
    name: str
    protocol: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False
    framing: str = "raw"
    done: bool = True
    provider: str = ""
    next: str | None = None
    body: bytes = b""
    expect: dict[str, Any] = field(default_factory=dict)

    def wire_body(self) -> bytes:
        """The body as the server sends it (framed, then compressed if asked)."""
        data = self.body
        if self.framing == "jsonl":
            parts = []
            for line in self.body.split(b"\n"):
                if not line.strip():
                    continue
                if self.protocol in ("anthropic", "responses"):
                    try:
                        kind = json.loads(line).get("type", "message")
                    except ValueError:
                        kind = "message"
                    parts.append(b"event: " + str(kind).encode() + b"\n")
                parts.append(b"data: " + line + b"\n\n")
            if self.done:
                parts.append(b"data: [DONE]\n\n")
            data = b"".join(parts)
        if self.gzip:
            data = gzip.compress(data, mtime=0)
        return data

    def response_headers(self) -> dict[str, str]:
        ok = 200 <= self.status < 300
        headers = {"content-type": "text/event-stream; charset=utf-8" if ok else "application/json"}
        headers.update({k.lower(): v for k, v in self.headers.items()})
        if self.gzip:
            headers["content-encoding"] = "gzip"
        return headers


def fixtures_dir() -> Path:
    env = os.environ.get("MUXTUI_REPLAY_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "streams"


def fixture_names(folder: Path | None = None) -> list[str]:
    folder = folder or fixtures_dir()
    return sorted(p.stem for p in folder.glob("*.json") if (folder / f"{p.stem}.body").exists())


def load_fixture(name: str, folder: Path | None = None) -> Fixture:
    folder = folder or fixtures_dir()
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ReplayError(f"bad fixture name {name!r}")
    meta_path, body_path = folder / f"{name}.json", folder / f"{name}.body"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        body = body_path.read_bytes()
    except FileNotFoundError:
        raise ReplayError(f"no fixture {name!r} in {folder}") from None
    except ValueError as exc:
        raise ReplayError(f"fixture {name!r}: bad JSON in {meta_path.name}: {exc}") from None
    protocol = meta.get("protocol")
    if protocol not in ("openai", "anthropic", "responses"):
        raise ReplayError(f"fixture {name!r}: protocol must be 'openai', 'anthropic' or 'responses'")
    if meta.get("framing", "raw") not in ("raw", "jsonl"):
        raise ReplayError(f"fixture {name!r}: framing must be 'raw' or 'jsonl'")
    return Fixture(
        name=name,
        protocol=protocol,
        status=int(meta.get("status", 200)),
        headers={str(k): str(v) for k, v in (meta.get("headers") or {}).items()},
        gzip=bool(meta.get("gzip", False)),
        framing=meta.get("framing", "raw"),
        done=bool(meta.get("done", True)),
        provider=str(meta.get("provider", "")),
        next=meta.get("next") or None,
        body=body,
        expect=dict(meta.get("expect") or {}),
    )
