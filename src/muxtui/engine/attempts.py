"""A workspace's stream task, and each turn's attempts: provider requests, retries, fallbacks.

Owns ``Turns``: starting and stopping a workspace's stream task, whose turns run one after
another (each: the attempts, then the close, through the manager so it can be replaced), the
queue sent as one merged message after a completed turn (point 7). And ``Attempts``: what
happens between "a turn starts" and "the turn ends with this outcome" (points 5, 8 and 11):
finding the provider for a model (``provider:model``) and building the request from the
conversation and the workspace's settings; reading the provider's stream into the ``Run`` (text
through the surrogate joiner and the secret filter, reasoning, usage, tool calls, citations);
telling a finished answer from a cut one (finish reasons, a missing end marker, an empty reply);
retrying retryable errors with exponential backoff and jitter while no text has arrived,
honouring Retry-After up to ``retry_after_max``; moving to the next model of a fallback chain on
configured error types. Every failure leaves as a typed ``StreamError``; closing the run is
``muxtui.engine.runs``' job.

The contract's numbers are those of muxtui.engine.manager's docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from muxtui.config import Config, ProviderConfig, split_model
from muxtui.engine import events as ev
from muxtui.engine import settings as settings_mod
from muxtui.engine.context import SUMMARY_INSTRUCTION, SUMMARY_PREFIX, request_messages
from muxtui.engine.errors import ErrorType, StreamError
from muxtui.engine.providers.base import (
    ChatMessage,
    Citation,
    Finish,
    ReasoningDelta,
    RefusalDelta,
    StopReason,
    StreamRequest,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from muxtui.engine.attachments import Blobs
from muxtui.engine.providers import parts
from muxtui.engine.queueing import SendQueue, merged_attachments, merged_text
from muxtui.engine.redact import StreamRedactor
from muxtui.engine.runs import Emit, Run, Runs, Workspace, finish_regardless, why
from muxtui.engine.storage import new_id, now
from muxtui.engine.surrogates import fix_surrogates

log = logging.getLogger("muxtui.manager")

# Finish reasons that end a reply short of a full answer: the text is kept, the reply is saved as
# an error of this type (never retried), with a message that says what happened.
FINISH_ERRORS: dict[str, tuple[ErrorType, str]] = {
    "length": (ErrorType.MAX_OUTPUT_TOKENS, "the reply was cut at the output token limit"),
    "max_tokens": (ErrorType.MAX_OUTPUT_TOKENS, "the reply was cut at the output token limit"),
    "content_filter": (ErrorType.MODEL_REFUSAL, "the provider's content filter stopped the reply"),
    "refusal": (ErrorType.MODEL_REFUSAL, "the model refused"),
    "model_context_window_exceeded": (ErrorType.CONTEXT_EXCEEDED, "the reply filled the model's context window"),
}
# Anthropic pauses a long server-tool turn; it is not a finished answer (the turn is saved as
# interrupted and the user can send "continue").
PAUSE_REASONS = frozenset({"pause_turn"})


ProviderFactory = Callable[[ProviderConfig, Config], Any]


def default_provider_factory(pc: ProviderConfig, cfg: Config) -> Any:
    from muxtui.engine.providers import registry

    return registry.get(pc.type).from_config(pc, cfg)


class Attempts:
    """Runs a turn's attempts against the providers (cached here, closed by the manager)."""

    def __init__(self, config: Config, emit: Emit, runs: Runs, *, provider_factory: ProviderFactory,
                 providers: dict[str, Any], rng: random.Random):
        self.config = config
        self._emit = emit
        self._runs = runs
        self._factory = provider_factory
        self._providers = providers
        self._rng = rng
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # backoff waits (tests may speed up)
        self._blobs = Blobs(runs.storage.root)  # attachments' bytes

    def _model_chain(self, model: str) -> list[str]:
        chain = [model]
        for m in self.config.fallbacks.get(model, []):
            if m not in chain:
                chain.append(m)
        return chain

    async def outcome(self, ws: Workspace, run: Run) -> tuple[str, StreamError | None]:
        """Run the attempts; how the turn ends: ("complete" | "interrupted" | "error", its error).
        A cancel goes through (the caller closes the run as interrupted)."""
        try:
            await self.run(ws, run)
        except StreamError as exc:
            if run.interrupted:
                return "interrupted", None
            return "error", exc
        except Exception as exc:  # a bug must still end in a persisted message, never a spinner
            log.exception("stream failed unexpectedly")
            return "error", StreamError(ErrorType.UNKNOWN, f"internal error: {type(exc).__name__}: {exc}")
        if run.interrupted or run.paused:
            return "interrupted", None
        return "complete", None

    async def run(self, ws: Workspace, run: Run) -> None:
        """Returns when the run has its reply (or was interrupted); raises the last StreamError."""
        cfg = self.config.stream
        chain = self._model_chain(run.model)
        last: StreamError | None = None
        for index, model in enumerate(chain):
            if index:
                self._emit(ev.STREAM_FALLBACK, ws.info.id, request_id=run.request_id, from_model=run.model,
                           to_model=model, error_type=str(last.error_type) if last else None)
                run.model = model
            for attempt in range(1, max(1, cfg.retry_attempts) + 1):
                if run.interrupted:
                    return
                run.attempt += 1
                try:
                    await self._attempt(ws, run, model)
                    return
                except StreamError as exc:
                    last = exc
                    if run.interrupted or run.has_output:
                        # Never silently throw away text the user has already seen.
                        raise
                    self._runs.audit(ws, run, "error", exc, model)
                    if not exc.retryable or attempt >= cfg.retry_attempts:
                        break
                    if exc.retry_after and exc.retry_after > cfg.retry_after_max:
                        # Waiting an hour inside a turn looks like a hang: end the turn now; the
                        # error message carries `retry_at` so the client can count down or wait.
                        break
                    delay = min(cfg.retry_max_delay, cfg.retry_base_delay * 2 ** (attempt - 1))
                    delay *= 0.75 + 0.5 * self._rng.random()
                    if exc.retry_after:
                        delay = max(delay, exc.retry_after)
                    self._emit(ev.STREAM_RETRYING, ws.info.id, request_id=run.request_id, attempt=attempt + 1,
                               delay=round(delay, 2), retry_at=round(now() + delay, 3),
                               error_type=str(exc.error_type), error=self._runs.clean(exc.message))
                    await self.sleep(delay)
            assert last is not None
            if last.error_type not in self.config.fallback_on or index + 1 >= len(chain):
                last.audited = True  # type: ignore[attr-defined]
                raise last
        raise last or StreamError(ErrorType.UNKNOWN, "no model to try")

    def _provider_for(self, model: str) -> tuple[Any, str]:
        try:
            provider_name, model_name = split_model(model)
        except ValueError as exc:
            raise StreamError(ErrorType.CONFIG, str(exc), retryable=False) from None
        pc = self.config.providers.get(provider_name)
        if pc is None:
            known = ", ".join(sorted(self.config.providers))
            raise StreamError(ErrorType.CONFIG,
                              f"unknown provider '{provider_name}' (known: {known}); add [providers.{provider_name}] "
                              "to config.toml", retryable=False, provider=provider_name)
        if pc.needs_key and not pc.resolve_key():
            raise StreamError(ErrorType.AUTHENTICATION,
                              f"no API key: set {pc.api_key_env} or api_key_env in config.toml",
                              retryable=False, provider=provider_name)
        provider = self._providers.get(provider_name)
        if provider is None:
            try:
                provider = self._factory(pc, self.config)
            except StreamError:
                raise
            except Exception as exc:
                raise StreamError(ErrorType.CONFIG, f"provider '{provider_name}': {exc}", retryable=False,
                                  provider=provider_name) from None
            self._providers[provider_name] = provider
        return provider, model_name

    async def _context(self, ws: Workspace, model: str, provider: Any, provider_name: str) -> list[ChatMessage]:
        """The request's turns, attachments loaded (a missing blob or an image the model cannot
        take is a StreamError that names the file; images of older turns left out are warned)."""
        messages = request_messages(ws.messages)
        if not any(m.get("attachments") for m in messages):
            return chat_messages(messages)
        loaded, warnings = await parts.load(messages, self._blobs, config=self.config, model=model,
                                            native_pdf=bool(getattr(type(provider), "native_pdf", False)),
                                            provider=provider_name)
        for text in warnings:
            self._emit(ev.WARNING, ws.info.id, text=text)
        return chat_messages(messages, loaded)

    async def summarize(self, model: str, messages: list[dict[str, Any]],
                        secrets: list[str] = ()) -> tuple[str, dict[str, int]]:  # type: ignore[assignment]
        """One summary of ``messages`` by ``model`` (no retries, no fallbacks: the user asked for
        it and sees why it failed): its text and reported usage; raises a typed StreamError."""
        provider, model_name = self._provider_for(model)
        pc = self.config.providers[split_model(model)[0]]
        chat = chat_messages([*messages, {"role": "user", "content": SUMMARY_INSTRUCTION}])
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            await prepare()
        request = StreamRequest(model=model_name, messages=chat, max_tokens=pc.max_tokens)
        text: list[str] = []
        usage: dict[str, int] = {}
        finished, reason = False, None
        try:
            async with asyncio.timeout(self.config.stream.total_timeout):
                async with contextlib.aclosing(provider.stream(request)) as items:
                    async for item in items:
                        if isinstance(item, TextDelta):
                            text.append(item.text)
                        elif isinstance(item, UsageUpdate):
                            usage.update({k: v for k in ("input_tokens", "output_tokens")
                                          if (v := getattr(item, k)) is not None})
                        elif isinstance(item, (Finish, StopReason)):
                            reason = item.reason or reason
                            finished = finished or isinstance(item, Finish)
        except TimeoutError:
            raise StreamError(ErrorType.TIMEOUT, "the summary took longer than total_timeout", provider=pc.name) from None
        except BaseExceptionGroup as group:
            leaf = _first_leaf(group)
            if isinstance(leaf, (StreamError, asyncio.CancelledError)):
                raise leaf from None
            raise StreamError(ErrorType.NETWORK, f"{type(leaf).__name__}: {leaf}", provider=pc.name) from None
        except (OSError, ValueError) as exc:
            raise StreamError(ErrorType.UNKNOWN, f"{type(exc).__name__}: {exc}", provider=pc.name) from None
        redactor = StreamRedactor(secrets)  # a key the model repeats never reaches the file
        summary = (redactor.feed(fix_surrogates("".join(text))) + redactor.flush()).strip()
        if not finished:
            raise StreamError(ErrorType.STREAM_TRUNCATED, "the summary stream ended before the provider's end marker",
                              provider=pc.name)
        if reason in FINISH_ERRORS:
            kind, what = FINISH_ERRORS[reason]
            raise StreamError(kind, f"summary: {what}", retryable=False, provider=pc.name)
        if not summary:
            raise StreamError(ErrorType.EMPTY_OUTPUT, "the model returned an empty summary", provider=pc.name)
        return summary, usage


    async def _attempt(self, ws: Workspace, run: Run, model: str) -> None:
        cfg = self.config.stream
        run.attempt_started = time.monotonic()  # type: ignore[attr-defined]
        run.stats = None  # type: ignore[attr-defined]
        if not run.has_output:  # what a failed attempt reported (usage, finish reason) is not this one's
            run.usage.clear()
            run.finish_reason = run.stop_detail = None
            run.citations.clear()
        provider, model_name = self._provider_for(model)
        messages = await self._context(ws, model, provider, split_model(model)[0])
        if not messages:
            raise StreamError(ErrorType.API, "nothing to send: the conversation is empty", retryable=False)
        pc = self.config.providers[split_model(model)[0]]
        prepare = getattr(provider, "prepare", None)
        if prepare is not None:
            await prepare()
        settings = settings_mod.effective(self.config.defaults, ws.settings)
        request = StreamRequest(
            model=model_name, messages=messages, max_tokens=settings.get("max_tokens") or pc.max_tokens,
            system=settings.get("system_prompt"), temperature=settings.get("temperature"),
            reasoning_effort=settings.get("reasoning_effort"), thinking_budget=settings.get("thinking_budget"),
            prefill=run.prefill,
        )
        run.stats = request.stats  # type: ignore[attr-defined]
        finished = False
        ws_id = ws.info.id
        try:
            async with asyncio.timeout(cfg.total_timeout):
                async with contextlib.aclosing(provider.stream(request)) as items:
                    async for item in items:
                        if isinstance(item, (TextDelta, ReasoningDelta)):
                            # Surrogate joiner, then key redactor: each kind of text has its own pair.
                            reasoning = isinstance(item, ReasoningDelta)
                            fix, screen = ((run.reasoning_fix, run.reasoning_filter) if reasoning
                                           else (run.text_fix, run.text_filter))
                            text = fix.feed(item.text) if item.text else ""
                            text = screen.feed(text) if text else ""
                            if not text:
                                continue
                            (self._runs.add_reasoning if reasoning else self._runs.add_text)(ws_id, run, text)
                        elif isinstance(item, UsageUpdate):
                            for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"):
                                value = getattr(item, name)
                                if value is not None:
                                    run.usage[name] = value
                        elif isinstance(item, Finish):
                            if item.reason or not run.finish_reason:
                                run.finish_reason = item.reason
                            finished = True
                        elif isinstance(item, StopReason):
                            run.finish_reason = item.reason
                            run.stop_detail = item.detail or run.stop_detail
                        elif isinstance(item, RefusalDelta):
                            if not item.text:
                                continue
                            run.refusal.append(item.text)
                            self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, refusal=item.text)
                            run.partial.poke()
                        elif isinstance(item, ToolCallDelta):
                            run.add_tool_call(item)
                            self._emit(ev.STREAM_DELTA, ws_id, request_id=run.request_id, tool_calls=True)
                            run.partial.poke()
                        elif isinstance(item, Citation):
                            if all(c["url"] != item.url for c in run.citations):
                                run.citations.append({"url": item.url, **({"title": item.title} if item.title else {})})
                        if run.partial.failed is not None:
                            raise StreamError(ErrorType.WRITE_FAILED,
                                              f"cannot write the partial reply: {why(run.partial.failed)}",
                                              retryable=False)
        except TimeoutError:
            raise StreamError(ErrorType.TIMEOUT, f"the reply took longer than total_timeout ({cfg.total_timeout:g} s)",
                              provider=pc.name) from None
        except StreamError as exc:
            exc.provider = exc.provider or pc.name
            raise
        except BaseExceptionGroup as group:  # anyio/httpcore can wrap connect failures in a group
            leaf = _first_leaf(group)
            if isinstance(leaf, asyncio.CancelledError):
                raise leaf from None
            if isinstance(leaf, StreamError):
                raise leaf from None
            kind = ErrorType.CONFIG if isinstance(leaf, (OverflowError, ValueError)) else ErrorType.NETWORK
            hint = f" (check base_url of provider '{pc.name}')" if kind == ErrorType.CONFIG else ""
            raise StreamError(kind, f"{type(leaf).__name__}: {leaf}{hint}", provider=pc.name,
                              retryable=kind == ErrorType.NETWORK) from None
        except (OSError, ValueError) as exc:  # a provider bug or odd transport error: still classified
            raise StreamError(ErrorType.UNKNOWN, f"{type(exc).__name__}: {exc}", provider=pc.name) from None
        self._runs.flush_filters(ws_id, run)
        if run.interrupted:
            return
        if not finished:
            raise StreamError(ErrorType.STREAM_TRUNCATED, "the stream ended before the provider's end marker",
                              provider=pc.name)
        reason = run.finish_reason
        if reason in FINISH_ERRORS:
            kind, what = FINISH_ERRORS[reason]
            detail = f": {run.stop_detail}" if run.stop_detail else ""
            raise StreamError(kind, f"{what} (finish reason '{reason}'){detail}", retryable=False, provider=pc.name)
        if run.refusal:
            # OpenAI's refusal field: the model declined. Its text is kept and shown (``refusal``).
            raise StreamError(ErrorType.MODEL_REFUSAL, "the model refused", retryable=False, provider=pc.name)
        if reason in PAUSE_REASONS:
            run.paused = True
            return
        if not run.content_len and not run.reasoning and not run.tool_calls and not run.prefill:
            raise StreamError(ErrorType.EMPTY_OUTPUT, "the model returned an empty reply", provider=pc.name)


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class Turns:
    """A workspace's stream task: its turns one after another (each: the attempts, then the
    close), the queue sent as one message after a completed turn (point 7); and stopping it."""

    def __init__(self, config: Config, emit: Emit, runs: Runs, attempts: Attempts, queue: SendQueue, *,
                 secrets: list[str], close: Callable[[Workspace, Run, str, StreamError | None], Awaitable[None]],
                 closing: Callable[[], bool]):
        self.config = config
        self._emit = emit
        self._runs = runs
        self._attempts = attempts
        self._queue = queue
        self._secrets = secrets
        self._close = close  # the manager's close path
        self._closing = closing  # the manager is shutting down: no new turn

    def start(self, ws: Workspace, prefill: str | None = None, reasoning: str = "") -> Run:
        run = self._new_run(ws)
        if prefill:
            run.prefill = prefill
            run.content.append(prefill)
            if reasoning:
                run.reasoning.append(reasoning)
        ws.run = run
        ws.task = asyncio.get_running_loop().create_task(self._run_turns(ws, run), name=f"stream-{ws.info.id}")
        self._emit_started(ws, run)
        return run

    async def stop(self, ws: Workspace) -> None:
        """Cancel the running stream and wait until it has fully exited and committed."""
        task = ws.task
        if task is None or task.done():
            return
        run = ws.run
        if run is not None:
            run.interrupted = True
        if run is not None and not run.entered:
            # Cancelling a task before its first step would skip its try/finally: no close, no
            # unlock. Let it start; it sees `interrupted` and closes through the normal path.
            pass
        else:
            task.cancel()
        await asyncio.wait({task})

    def _emit_started(self, ws: Workspace, run: Run) -> None:
        self._emit(ev.STREAM_STARTED, ws.info.id, request_id=run.request_id, message_id=run.message_id,
                   model=run.model)

    def _new_run(self, ws: Workspace) -> Run:
        return Run(request_id=new_id("r"), message_id=new_id("m"), model=ws.info.model, epoch=ws.epoch,
                   text_filter=StreamRedactor(self._secrets), reasoning_filter=StreamRedactor(self._secrets))

    async def _run_turns(self, ws: Workspace, run: Run) -> None:
        run.entered = True
        try:
            while True:
                status = await self._run_turn(ws, run)
                if (status != "complete" or run.interrupted or not ws.queue or ws.deleted or self._closing()
                        or run.epoch != ws.epoch):
                    return
                # Point 7: the turn completed, so the queue goes out as one merged message. The
                # commit runs to the end even if a stop arrives, so memory and disk agree.
                items = list(ws.queue)
                try:
                    await finish_regardless(
                        self._queue.add_user_message(ws, merged_text(items), [q["id"] for q in items],
                                                     merged_attachments(items)))
                except OSError as exc:  # disk full: the queue stays as it is, on disk and on screen
                    self._emit(ev.WARNING, ws.info.id, text=f"cannot send the queued messages: {why(exc)}; "
                               "they stay queued")
                    return
                if run.interrupted or self._closing():
                    return
                run = self._new_run(ws)
                run.entered = True
                ws.run = run
                self._emit_started(ws, run)
        except Exception:  # a bug: the turn still ends (below), and the task ends quietly
            log.exception("stream task failed")
        finally:
            ws.store.unlock_stream()
            if not run.closed:
                self._runs.close_fallback(ws, run)

    async def _run_turn(self, ws: Workspace, run: Run) -> str:
        run.partial = self._runs.partial_writer(ws, run, self.config.stream.partial_interval_ms / 1000)
        try:
            status, err = await self._attempts.outcome(ws, run)
        except asyncio.CancelledError:
            await finish_regardless(self._close(ws, run, "interrupted", None))
            raise
        await finish_regardless(self._close(ws, run, status, err))
        return status


def chat_messages(messages: list[dict[str, Any]], loaded: dict[str, tuple[Any, ...]] | None = None) -> list[ChatMessage]:
    """Stored messages as a provider's turns: empty ones left out, a summary as a user turn
    that says what it is, consecutive turns of one role joined (providers want alternation).
    ``loaded``: user messages' attachments by message id (``parts.load``)."""
    out: list[ChatMessage] = []
    for m in messages:
        content = m.get("content") or ""
        if not content.strip() and isinstance(m.get("refusal"), str):
            content = m["refusal"]  # the model's refusal is what it said on that turn
        attached = (loaded or {}).get(m.get("id"), ()) if m.get("role") == "user" else ()
        if not content.strip() and not attached:
            continue
        role = m["role"]
        if m.get("summary"):
            role, content = "user", f"{SUMMARY_PREFIX}\n\n{content}"
        if out and out[-1].role == role:  # providers want alternating turns
            joined = "\n\n".join(c for c in (out[-1].content, content) if c.strip())
            out[-1] = ChatMessage(role, joined, out[-1].attachments + tuple(attached))
        else:
            out.append(ChatMessage(role, content, tuple(attached)))
    return out
