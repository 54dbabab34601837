"""The error log (errors.jsonl) and audit log (audit.jsonl), with secrets redacted.

audit.jsonl has one record per stream close (clean or not); errors.jsonl one per close that is
not a clean finish, grouped in the UI by a signature of close kind + error type + provider.
A record the disk refuses (full) is kept in memory, in order, and written by the next append or
``flush_pending`` (the stream manager's save loop), so a disk-full episode is still on record
once space returns. Appends are all-or-nothing: never a torn line.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable

from muxtui.engine import atomic

log = logging.getLogger("muxtui.logs")
MAX_PENDING = 1000  # records held while the disk is full; the oldest are dropped beyond this

# Values that look like credentials, whatever the provider.
_SECRET_PATTERNS = [
    re.compile(r"(?i)(authorization\s*[:=]\s*)(bearer\s+)?[^\s\"',]+"),
    re.compile(r"(?i)(x-api-key\s*[:=]\s*)[^\s\"',]+"),
    re.compile(r"\b(sk-(?:ant-)?[A-Za-z0-9_\-]{8,})"),
]


class Redactor:
    """Replaces known secret values (from the environment and config) and key-shaped strings."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self.add(*secrets)
        for name, value in os.environ.items():
            if value and len(value) >= 8 and re.search(r"(?i)(api_?key|token|secret)", name):
                self._secrets.add(value)

    def add(self, *values: str | None) -> None:
        for v in values:
            if v and len(v) >= 4:
                self._secrets.add(v)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        for s in sorted(self._secrets, key=len, reverse=True):
            if s in text:
                text = text.replace(s, "[redacted]")
        for pat in _SECRET_PATTERNS:
            if pat.groups >= 2:
                text = pat.sub(lambda m: m.group(1) + "[redacted]", text)
            else:
                text = pat.sub("[redacted]", text)
        return text

    def scrub(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {k: ("[redacted]" if isinstance(k, str) and k.lower() in ("authorization", "x-api-key", "api_key")
                        else self.scrub(v)) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.scrub(v) for v in obj]
        return obj


def signature(record: dict[str, Any]) -> str:
    return f"{record.get('close_kind')}/{record.get('error_type') or '-'}/{record.get('provider') or '-'}"


class EventLog:
    """Append-only JSONL logs; appends are serialised by a thread lock and O_APPEND."""

    def __init__(self, log_dir: Path, redactor: Redactor | None = None):
        self.dir = Path(log_dir)
        self.errors_file = self.dir / "errors.jsonl"
        self.audit_file = self.dir / "audit.jsonl"
        self.redact = redactor or Redactor()
        self._lock = threading.Lock()
        self._pending: list[tuple[Path, bytes]] = []
        self._warned = False
        self.dropped = 0

    def _append(self, path: Path, record: dict[str, Any]) -> bool:
        """Write one record, after any held back; on failure hold it too. True if written."""
        line = atomic.encode_json(self.redact.scrub(record)) + b"\n"
        with self._lock:
            self._pending.append((path, line))
            if len(self._pending) > MAX_PENDING:
                del self._pending[0]
                self.dropped += 1
            return self._flush_locked()

    def _flush_locked(self) -> bool:
        while self._pending:
            path, line = self._pending[0]
            try:
                atomic.make_private_dir(self.dir)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, atomic.FILE_MODE)
                try:
                    # Another muxtui process may append too: cutting back a failed append must
                    # never cut its record.
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    atomic.append_all(fd, line, "log", sync=False)  # as before: logs are not fsynced
                finally:
                    os.close(fd)
            except OSError as exc:
                if not self._warned:
                    log.warning("cannot write %s (%s): %d record(s) held in memory", path, exc, len(self._pending))
                self._warned = True
                return False
            self._pending.pop(0)
        self._warned = False
        return True

    @property
    def pending(self) -> int:
        """Records held in memory because the disk refused them."""
        return len(self._pending)

    def flush_pending(self) -> bool:
        """Write the records held back; True when none is left."""
        with self._lock:
            return self._flush_locked()

    def record_close(self, record: dict[str, Any]) -> bool:
        """One stream closed: always audited; anything but a clean finish is also an error.
        False if the disk refused it (it is held and written later, never raised)."""
        ok = self._append(self.audit_file, record)
        if record.get("close_kind") != "complete":
            ok = self._append(self.errors_file, {**record, "signature": signature(record)}) and ok
        return ok

    @staticmethod
    def read(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
        try:
            lines = path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        if limit:
            lines = lines[-limit:]
        out = []
        for raw in lines:
            try:
                rec = json.loads(raw)
                if isinstance(rec, dict):
                    out.append(rec)
            except ValueError:
                continue
        return out

    def errors(self, limit: int | None = 5000) -> list[dict[str, Any]]:
        return self.read(self.errors_file, limit)

    def audit(self, limit: int | None = 5000) -> list[dict[str, Any]]:
        return self.read(self.audit_file, limit)

    def grouped_errors(self) -> list[dict[str, Any]]:
        """Errors grouped by signature: count, last seen, one sample; most recent first."""
        groups: OrderedDict[str, dict[str, Any]] = OrderedDict()
        for rec in self.errors():
            sig = rec.get("signature") or signature(rec)
            g = groups.get(sig)
            if g is None:
                groups[sig] = {"signature": sig, "count": 1, "first_seen": rec.get("ts"), "last_seen": rec.get("ts"),
                               "sample": rec}
            else:
                g["count"] += 1
                g["last_seen"] = rec.get("ts")
                g["sample"] = rec
        return sorted(groups.values(), key=lambda g: g["last_seen"] or 0, reverse=True)
