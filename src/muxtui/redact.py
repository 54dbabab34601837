"""Configured credentials never reach the screen, a file or stdout, even inside a reply.

A server (or a model that was shown the key) can echo the API key back in a reply body. The
stream manager passes every text and reasoning delta through a ``StreamRedactor`` before the
text is kept, saved or emitted, so the app, ``chat.jsonl``, ``partial.json`` and ``muxtui send``
all see ``[redacted]`` instead.

Which values count as credentials (``configured_secrets``): each provider's ``api_key``, the key
its ``api_key_env`` names, the values of its configured ``headers`` (except a few headers that
are public labels by nature, such as ``HTTP-Referer`` or ``X-Title``: redacting ``muxtui`` from
every reply would mangle ordinary text), and user name and password in a ``base_url``. Values
shorter than ``MIN_SECRET`` characters are left alone: they are not keys, and replacing them
would corrupt replies.

Only these literal values are redacted in replies; the key-shaped patterns the logs also redact
(``sk-...``) are left in replies, where a model may legitimately write examples of them.

``redact_url`` hides the credentials of a URL wherever one is shown (``muxtui doctor``, config
errors).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

REDACTED = "[redacted]"
# A stream that ends in the middle of a key (interrupted, cut off) shows the part received as
# [redacted] once it is this long; a shorter tail is ordinary text as far as anyone can tell.
CUT_SECRET = 10
_AUTHORITY = re.compile(r"[^/?#]*")
MIN_SECRET = 8
# Headers whose values are labels, versions or formats: never credentials.
PUBLIC_HEADERS = frozenset({
    "http-referer", "referer", "x-title", "user-agent", "accept", "content-type",
    "anthropic-version", "anthropic-beta", "openai-beta",
})


def configured_secrets(config: Any, min_len: int = MIN_SECRET) -> list[str]:
    """Every credential value the config holds or points at (see the module docstring)."""
    found: set[str] = set()
    for pc in config.providers.values():
        found.add(pc.api_key or "")
        found.add(pc.resolve_key() or "")
        for name, value in (pc.headers or {}).items():
            if name.lower() not in PUBLIC_HEADERS:
                found.add(value or "")
        try:
            parts = urlsplit(pc.base_url or "")
            found.update((parts.username or "", parts.password or ""))
        except ValueError:
            pass
    return sorted((s for s in found if len(s) >= min_len), key=len, reverse=True)


class StreamRedactor:
    """Redacts secrets from a text that arrives in chunks, however the chunks split a secret.

    ``feed`` returns what is safe to show now. It holds back the shortest tail that could still
    grow into a secret (the longest end of the text that is a proper prefix of one), so ordinary
    text is delayed by at most a character or two and a key split over any number of chunks is
    still caught. ``flush`` hands over the held tail when the stream ends (as ``[redacted]`` if
    it is the first ``CUT_SECRET`` or more characters of a secret).
    """

    __slots__ = ("_secrets", "_held")

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._held = ""

    @property
    def pending(self) -> str:
        return self._held

    def feed(self, text: str) -> str:
        if not self._secrets:
            return text
        buf = self._held + text
        for secret in self._secrets:
            if secret in buf:
                buf = buf.replace(secret, REDACTED)
        keep = self._open_tail(buf)
        self._held = buf[len(buf) - keep:] if keep else ""
        return buf[: len(buf) - keep]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return REDACTED if len(held) >= CUT_SECRET else held

    def _open_tail(self, buf: str) -> int:
        """Length of the longest end of `buf` that is a proper prefix of some secret."""
        best = 0
        for secret in self._secrets:
            first = secret[0]
            i = buf.find(first, max(0, len(buf) - len(secret) + 1))
            while i != -1 and len(buf) - i > best:
                if secret.startswith(buf[i:]):
                    best = len(buf) - i
                    break
                i = buf.find(first, i + 1)
        return best


def redact_url(url: str | None) -> str:
    """`url` with any user name and password replaced by [redacted] (works on broken URLs too)."""
    if not url or "@" not in url:
        return url or ""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    match = _AUTHORITY.match(rest)
    authority = match.group(0) if match else ""
    if "@" not in authority:
        return url
    return f"{scheme}{sep}{REDACTED}@{authority.rpartition('@')[2]}{rest[len(authority):]}"
