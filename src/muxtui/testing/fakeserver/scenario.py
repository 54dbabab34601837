"""The scenario of one request, parsed from its model name ``name?key=value&...``.

``Scenario`` lists every key (its docstring is the reference); ``parse_scenario`` refuses
unknown keys and bad values with ``ScenarioError``. What a scenario produces (the reply's
chunks, its reasoning, the usage reported) is here too; how each protocol writes it is in
openai.py, anthropic.py and responses.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from muxtui.testing import markdown_mix
from muxtui.testing.fakeserver.content import content_chars

__all__ = ["FAULTS", "SURROGATE_CHUNKS", "Scenario", "ScenarioError", "parse_scenario", "usage_for"]

FAULTS = frozenset({"drop", "reset", "close", "malformed", "garbage", "hang_headers", "hang", "error_event"})
# Content chunks for surrogate=...: json.dumps writes each surrogate as a "\uXXXX" escape,
# exactly the bytes such servers send (a Python str may hold a lone surrogate; UTF-8 may not).
SURROGATE_CHUNKS = {
    "split": ("Smile ", "\ud83d", "\ude00 done"),
    "lone": ("bad ", "\udc80", " byte, then done"),
    "high": ("half ", "\ud83d", " an emoji, then done"),
}
_HUGE_BLOCK = (
    "This is a very large single chunk of streamed text, used to test that every layer copes "
    "with one enormous delta without quadratic behaviour or unbounded buffering. "
) * 6 + "\n\n"


class ScenarioError(ValueError):
    """A model string whose ``?key=value`` part cannot be understood."""


@dataclass
class Scenario:
    """What the server does for one request, parsed from the model name ``name?k=v&...``.

    chunks=N (20)       content chunks of markdown_mix.generate(N, seed); seed=S (0)
    text=T              literal reply, in chunks of 4 characters (instead of chunks/seed)
    shape=NAME          a hostile reply shape (muxtui.testing.hostile_markdown: code_4k,
                        unclosed_fence, table...) in chunks of size=N characters (20);
                        scale=F (1) shrinks or grows the big shapes
    delay_ms=D (0)      pause between chunks; first_delay_ms=D before the first one
    reasoning=N (0)     N reasoning chunks first (reasoning_content / thinking_delta)
    usage=0|1 (1)       report token usage; finish=stop|length|content_filter (stop);
                        on /v1/responses also finish=refusal (response.refusal.delta)
                        and finish=failed (response.failed)
    done=0|1 (1)        0: omit the end marker ([DONE] / message_stop), after the finish
    status=CODE         answer with that HTTP status and the provider's real error body;
                        quota=1 (quota/billing wording), retry_after=S (header, seconds
                        or HTTP date), context=1 (a 400 context-length error),
                        echo_key=1 (the error message echoes the API key it received;
                        on a normal reply, the reply ends with the key, cut into
                        chunks of 5 characters: a key split across chunks)
    fail_first=K        status/context/fault only for the first K requests of this
                        exact model string, then normal replies
    fault=F&after=K     after K chunks (reasoning + content): drop (abort the TCP
                        connection), reset (RST), close (end the body cleanly with no end
                        marker), malformed (a bad JSON line, then go on), garbage (a
                        non-UTF-8 line, then go on), hang (stay silent, connection open),
                        error_event (the provider's mid-stream error event, then end);
                        fault=hang_headers never answers at all
    huge=BYTES          one content chunk of that many characters
    empty=1             a well-formed stream with no content
    pause_after=K&gate=NAME   after K chunks, wait for FakeServer.release(NAME)
    surrogate=S         UTF-16 surrogates as JSON escapes, as some servers send them:
                        split (an emoji's pair cut across two chunks: high half
                        D83D in one, low half DE00 at the start of the next), lone (a lone
                        low half DC80), high (a high half with no low half after it); see
                        SURROGATE_CHUNKS
    """

    model: str  # the whole model string, as sent
    name: str  # the part before "?"
    chunks: int = 20
    seed: int = 0
    text: str | None = None
    shape: str | None = None
    size: int = 20
    scale: float = 1.0
    delay_ms: float = 0.0
    first_delay_ms: float = 0.0
    reasoning: int = 0
    usage: bool = True
    finish: str = "stop"
    done: bool = True
    status: int | None = None
    quota: bool = False
    retry_after: str | None = None
    context: bool = False
    echo_key: bool = False
    fail_first: int | None = None
    fault: str | None = None
    after: int = 0
    huge: int | None = None
    empty: bool = False
    pause_after: int | None = None
    gate: str | None = None
    received_key: str | None = None  # set by the server from the request, for echo_key
    surrogate: str | None = None

    def content_chunks(self) -> list[str]:
        if self.empty:
            return []
        if self.huge is not None:
            reps = self.huge // len(_HUGE_BLOCK) + 1
            chunks = [(_HUGE_BLOCK * reps)[: self.huge]]
        elif self.surrogate is not None:
            chunks = list(SURROGATE_CHUNKS[self.surrogate])
        elif self.text is not None:
            chunks = [self.text[i : i + 4] for i in range(0, len(self.text), 4)]
        elif self.shape is not None:
            from muxtui.testing import hostile_markdown

            text = hostile_markdown.shape(self.shape, self.scale)[1]
            chunks = [text[i : i + self.size] for i in range(0, len(text), self.size)]
        else:
            chunks = markdown_mix.generate(self.chunks, self.seed)
        if self.echo_key and self.received_key:
            echo = f"\n\nYour key is {self.received_key} (echoed)."
            chunks = chunks + [echo[i : i + 5] for i in range(0, len(echo), 5)]
        return chunks

    def reasoning_chunks(self) -> list[str]:
        words = (
            "Let me think about this step by step. The user wants a clear answer, so I will "
            "outline the idea first, check the edge cases, and then write it up. "
        ).split(" ")
        return [(" " if i else "") + words[i % len(words)] for i in range(self.reasoning)]


def parse_scenario(model: str) -> Scenario:
    """``name?key=value&...`` to a Scenario; unknown keys or bad values raise ScenarioError."""
    name, _, query = model.partition("?")
    sc = Scenario(model=model, name=name)
    if not query:
        return sc
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    except ValueError as exc:
        raise ScenarioError(f"bad scenario query {query!r}: {exc}") from None
    ints = {"chunks", "seed", "reasoning", "status", "fail_first", "after", "huge", "pause_after", "size"}
    floats = {"delay_ms", "first_delay_ms", "scale"}
    bools = {"usage", "quota", "context", "empty", "echo_key", "done"}
    strs = {"text", "finish", "retry_after", "fault", "gate", "surrogate", "shape"}
    for key, values in params.items():
        value = values[-1]
        try:
            if key in ints:
                setattr(sc, key, int(value))
            elif key in floats:
                setattr(sc, key, float(value))
            elif key in bools:
                setattr(sc, key, value.lower() not in ("0", "false", "no", "off", ""))
            elif key in strs:
                setattr(sc, key, value)
            else:
                raise ScenarioError(f"unknown scenario key {key!r} in model {model!r}")
        except ValueError as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise ScenarioError(f"bad value {value!r} for scenario key {key!r}") from None
    if sc.fault is not None and sc.fault not in FAULTS:
        raise ScenarioError(f"unknown fault {sc.fault!r}; one of {sorted(FAULTS)}")
    if sc.surrogate is not None and sc.surrogate not in SURROGATE_CHUNKS:
        raise ScenarioError(f"unknown surrogate case {sc.surrogate!r}; one of {sorted(SURROGATE_CHUNKS)}")
    if sc.shape is not None:
        from muxtui.testing import hostile_markdown

        if sc.shape not in hostile_markdown.SHAPES:
            raise ScenarioError(f"unknown shape {sc.shape!r}; one of {list(hostile_markdown.SHAPES)}")
        if sc.size < 1 or not 0 < sc.scale <= 10:
            raise ScenarioError("shape needs size >= 1 and 0 < scale <= 10")
    if sc.pause_after is not None and not sc.gate:
        raise ScenarioError("pause_after needs gate=NAME")
    if sc.chunks < 0 or sc.reasoning < 0 or sc.after < 0 or (sc.huge is not None and sc.huge < 0):
        raise ScenarioError("counts must not be negative")
    return sc


def usage_for(sc: Scenario, payload: dict, n_content: int, n_reasoning: int) -> dict[str, int] | None:
    """The token usage reported for a reply (None with usage=0): input from the request's size."""
    if not sc.usage:
        return None
    chars = 0
    for m in [*payload.get("messages", []), *(payload.get("input") or [])]:
        content = m.get("content") if isinstance(m, dict) else None
        chars += content_chars(content)
    for system in (payload.get("system"), payload.get("instructions")):
        if isinstance(system, str):
            chars += len(system)
    return {"input_tokens": max(1, chars // 4), "output_tokens": n_content + n_reasoning}
