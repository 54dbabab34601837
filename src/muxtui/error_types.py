"""The fixed set of stream error types: the words the engine classifies every failure into,
config.toml's ``fallback_on`` names, and the logs group by.

It sits below the engine (config reads it); what each type means for a retry, and the
exception that carries one, stay in :mod:`muxtui.engine.errors`.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorType"]


class ErrorType(StrEnum):
    AUTHENTICATION = "authentication"
    QUOTA = "quota"
    RATE_LIMIT = "rate_limit"
    MODEL_NOT_FOUND = "model_not_found"
    CONTEXT_EXCEEDED = "context_exceeded"
    SERVER_ERROR = "server_error"
    NETWORK = "network"
    TIMEOUT = "timeout"
    STREAM_TRUNCATED = "stream_truncated"
    EMPTY_OUTPUT = "empty_output"
    MAX_OUTPUT_TOKENS = "max_output_tokens"
    MODEL_REFUSAL = "model_refusal"
    ABORTED = "aborted"
    CONFIG = "config"
    WRITE_FAILED = "write_failed"
    API = "api"
    UNKNOWN = "unknown"
