"""Deterministic, realistic Markdown replies split into token-sized chunks.

``generate(n, seed)`` returns exactly ``n`` chunk strings (about 7 characters each, like
LLM tokens: words with their leading space, newlines attached to the word before them)
whose concatenation is a plausible assistant reply: headings, paragraphs with **bold** and
`inline code`, bullet and numbered lists, an occasional blockquote and a fenced ```python
block about every 40 lines. Every construct is closed before the text ends, whatever ``n``.

Used by the fake provider server (the default reply text), by tests and by benchmarks.
"""

from __future__ import annotations

import random
import re
from functools import lru_cache

__all__ = ["generate", "tokenize"]

_WORDS = (
    "the stream engine renders each workspace while tokens arrive from the provider and "
    "a buffer keeps the latest delta so the terminal never blocks on slow output because "
    "every message is stored on disk with its usage and finish reason then the layout "
    "updates only the visible region which makes scrolling cheap even for long replies "
    "that contain code tables lists and quotes from earlier turns in the conversation "
    "when a request fails the error badge explains what happened and how to retry it "
    "configuration lives in a small file where each provider has a base url an api key "
    "environment variable and a default model that you can change at any time during "
    "a session without restarting the application or losing the current draft "
    "incremental rendering throughput latency benchmark reconnect cancellation "
    "deterministic structured snapshot terminal keyboard shortcut interactive "
    "persistent lightweight asynchronous protocol response streaming markdown"
).split()

_TERMS = (
    "asyncio", "httpx", "StreamRequest", "max_tokens", "base_url", "config.toml",
    "TextDelta", "await", "yield", "ctrl+r", "Finish", "usage", "retry_after", "SSE",
    "json.loads", "event_loop", "None", "dict", "__init__", "0.25",
)

_HEADINGS = (
    "Overview", "How it works", "Configuration", "Error handling", "Performance notes",
    "A worked example", "Streaming details", "Next steps", "Trade-offs", "Summary",
    "Testing strategy", "Design goals",
)

_CODE = (
    (
        "import asyncio",
        "",
        "async def stream_reply(client, request):",
        "    buffer = []",
        "    async for event in client.stream(request):",
        "        if event.kind == \"text\":",
        "            buffer.append(event.text)",
        "    return \"\".join(buffer)",
    ),
    (
        "def parse_model(spec: str) -> tuple[str, str]:",
        "    provider, _, model = spec.partition(\":\")",
        "    if not model:",
        "        raise ValueError(f\"bad model spec: {spec!r}\")",
        "    return provider, model",
    ),
    (
        "class RateLimiter:",
        "    def __init__(self, per_second: float) -> None:",
        "        self.interval = 1.0 / per_second",
        "        self.last = 0.0",
        "",
        "    async def wait(self) -> None:",
        "        now = asyncio.get_running_loop().time()",
        "        delay = self.last + self.interval - now",
        "        if delay > 0:",
        "            await asyncio.sleep(delay)",
        "        self.last = max(now, self.last + self.interval)",
    ),
    (
        "totals = {}",
        "for message in workspace.messages:",
        "    key = message.model or \"unknown\"",
        "    totals[key] = totals.get(key, 0) + message.tokens",
        "print(sorted(totals.items(), key=lambda kv: -kv[1]))",
    ),
)

# A token: optional leading blanks, a run of non-blanks, then any newlines; or a bare
# run of newlines/blanks (only at a block start).
_TOKEN_RE = re.compile(r"[ \t]*[^\s]+\n*|[ \t]*\n+|[ \t]+")


def tokenize(text: str) -> list[str]:
    """Split text into token-like chunks whose concatenation is exactly ``text``."""
    return _TOKEN_RE.findall(text)


class _Writer:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lines_since_code = 0
        self.code_every = self.rng.randint(30, 50)

    def word(self) -> str:
        r = self.rng.random()
        if r < 0.06:
            return "`" + self.rng.choice(_TERMS) + "`"
        return self.rng.choice(_WORDS)

    def sentence(self, lo: int = 6, hi: int = 16) -> str:
        rng = self.rng
        n = rng.randint(lo, hi)
        words = [self.word() for _ in range(n)]
        if n >= 6 and rng.random() < 0.3:
            i = rng.randrange(0, n - 2)
            words[i] = "**" + words[i]
            words[i + 1] = words[i + 1] + "**"
        if n >= 8 and rng.random() < 0.3:
            j = rng.randrange(3, n - 2)
            words[j] = words[j] + ","
        first = words[0]
        if first[:1].isalpha():
            words[0] = first[0].upper() + first[1:]
        return " ".join(words) + rng.choice((".", ".", ".", ":", "!")[: 3 if n < 10 else 5])

    def paragraph(self) -> str:
        return " ".join(self.sentence() for _ in range(self.rng.randint(2, 5)))

    def block(self) -> tuple[str, int]:
        """One Markdown block (ending with a blank line) and how many lines it has."""
        rng = self.rng
        if self.lines_since_code >= self.code_every:
            self.lines_since_code = 0
            self.code_every = rng.randint(30, 50)
            code = rng.choice(_CODE)
            intro = self.sentence(5, 10).rstrip(".:!") + ":\n\n"
            return intro + "```python\n" + "\n".join(code) + "\n```\n\n", len(code) + 4
        r = rng.random()
        if r < 0.12:
            text, lines = "## " + rng.choice(_HEADINGS) + "\n\n", 2
        elif r < 0.55:
            text, lines = self.paragraph() + "\n\n", 2
        elif r < 0.72:
            items = [self.sentence(3, 9) for _ in range(rng.randint(3, 6))]
            text, lines = "".join("- " + it + "\n" for it in items) + "\n", len(items) + 1
        elif r < 0.86:
            items = [self.sentence(3, 9) for _ in range(rng.randint(3, 5))]
            text = "".join(f"{i}. {it}\n" for i, it in enumerate(items, 1)) + "\n"
            lines = len(items) + 1
        elif r < 0.93:
            text, lines = "> " + self.sentence(8, 18) + "\n\n", 2
        else:
            text, lines = self.paragraph() + "\n\n", 2
        self.lines_since_code += lines
        return text, lines

    def filler(self, n: int) -> list[str]:
        """A final plain paragraph of exactly n tokens."""
        words = [self.rng.choice(_WORDS) for _ in range(n)]
        words[0] = words[0].capitalize()
        words[-1] = words[-1] + "."
        return [words[0]] + [" " + w for w in words[1:]]


@lru_cache(maxsize=64)
def _generate(chunks: int, seed: int) -> tuple[str, ...]:
    if chunks <= 0:
        return ()
    w = _Writer(seed)
    out: list[str] = []
    opening = "Here is a walkthrough of how the pieces fit together.\n\n"
    first = tokenize(opening)
    if len(first) <= chunks:
        out.extend(first)
    while len(out) < chunks:
        text, _ = w.block()
        toks = tokenize(text)
        if len(out) + len(toks) > chunks:
            break
        out.extend(toks)
    remaining = chunks - len(out)
    if remaining:
        out.extend(w.filler(remaining))
    return tuple(out)


def generate(chunks: int, seed: int = 0) -> list[str]:
    """Exactly ``chunks`` deterministic chunk strings forming a Markdown reply."""
    return list(_generate(int(chunks), int(seed)))
