"""What each stream error type means (retryable, continuable, the hint shown), and the exception
that carries one. The types themselves live in :mod:`muxtui.error_types` (config reads them)."""

from __future__ import annotations

from muxtui.error_types import ErrorType


RETRYABLE: frozenset[ErrorType] = frozenset(
    {
        ErrorType.RATE_LIMIT,
        ErrorType.SERVER_ERROR,
        ErrorType.NETWORK,
        ErrorType.TIMEOUT,
        ErrorType.STREAM_TRUNCATED,
        ErrorType.EMPTY_OUTPUT,
    }
)

# A reply that stopped short for one of these reasons, with text, reads on where it stopped
# (continue: ctrl+g); the others (a refusal, a full context) would only fail again.
CONTINUABLE_ERRORS: frozenset[ErrorType] = frozenset(
    {
        ErrorType.MAX_OUTPUT_TOKENS,
        ErrorType.STREAM_TRUNCATED,
        ErrorType.NETWORK,
        ErrorType.TIMEOUT,
        ErrorType.SERVER_ERROR,
        ErrorType.RATE_LIMIT,
    }
)

# What a user can do about each error, shown under the failed message. A key is named by its
# binding id in braces ({retry}): the client fills in the key the user's keymap has for it.
HINTS: dict[ErrorType, str] = {
    ErrorType.AUTHENTICATION: "check the API key (api_key_env in config.toml)",
    ErrorType.QUOTA: "the account is out of credit or quota",
    ErrorType.RATE_LIMIT: "rate limited: {retry} to retry later",
    ErrorType.MODEL_NOT_FOUND: "pick another model ({pick-model})",
    ErrorType.CONTEXT_EXCEEDED: ("the conversation is too long for this model: {compact-retry} compacts it "
                                  "and retries (/compact only compacts), or start a new workspace"),
    ErrorType.SERVER_ERROR: "the provider failed: {retry} to retry",
    ErrorType.NETWORK: "cannot reach the provider: check base_url and the network, {retry} to retry",
    ErrorType.TIMEOUT: "the provider stopped answering: {retry} to retry",
    ErrorType.STREAM_TRUNCATED: "the connection closed mid-reply: {retry} to retry",
    ErrorType.EMPTY_OUTPUT: "the model returned nothing: {retry} to retry",
    ErrorType.MAX_OUTPUT_TOKENS: "the reply hit the output token limit",
    ErrorType.MODEL_REFUSAL: "the model refused or was filtered",
    ErrorType.ABORTED: "{retry} to retry",
    ErrorType.CONFIG: "fix config.toml (muxtui doctor shows the problem)",
    ErrorType.WRITE_FAILED: ("the disk write failed (full or read-only?): the text is kept in memory and saved "
                             "as soon as the disk has room"),
    ErrorType.API: "the provider rejected the request",
    ErrorType.UNKNOWN: "{retry} to retry",
}


class StreamError(Exception):
    """A classified failure of a stream: what the user sees and what the logs group by."""

    def __init__(
        self,
        error_type: ErrorType,
        message: str,
        *,
        status: int | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = ErrorType(error_type)
        self.message = message
        self.status = status
        self.retryable = self.error_type in RETRYABLE if retryable is None else retryable
        self.retry_after = retry_after
        self.provider = provider

    def to_dict(self) -> dict:
        return {
            "error_type": str(self.error_type),
            "error": self.message,
            "status": self.status,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "provider": self.provider,
        }

    def __repr__(self) -> str:
        return f"StreamError({self.error_type!s}, {self.message!r}, status={self.status})"


def wait_text(seconds: float) -> str:
    """A wait in words, to the unit that matters: "45 s", "12 min", "1 h", "1 h 5 min"."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes = round(total / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def countdown(seconds: float) -> str:
    """A ticking clock: "0:07", "59:58", "1:00:00" (whole seconds, rounded up)."""
    total = max(0, int(-(-seconds // 1)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"
