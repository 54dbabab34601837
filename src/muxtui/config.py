"""The typed config, loaded once from config.toml (tomllib) and edited in place when saved.

An invalid file gets a ConfigError naming the file, line and key, and is never overwritten.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from muxtui.engine import atomic
from muxtui.engine.errors import ErrorType
from muxtui.engine.redact import redact_url

DEMO_MODEL = "demo:muxtui-demo"
PROVIDER_TYPES = ("openai", "anthropic", "openai-responses", "demo")
REASONING_SUMMARIES = ("auto", "concise", "detailed")  # openai-responses: reasoning.summary
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")

# Sensible fallbacks for error types that another model might not hit.
DEFAULT_FALLBACK_ON = (ErrorType.MODEL_NOT_FOUND, ErrorType.SERVER_ERROR, ErrorType.RATE_LIMIT, ErrorType.QUOTA)


class ConfigError(Exception):
    def __init__(self, path: Path | None, message: str, *, line: int | None = None, key: str | None = None):
        self.path, self.line, self.key, self.detail = path, line, key, message
        where = str(path) if path else "config"
        if line:
            where += f", line {line}"
        if key:
            where += f", key '{key}'"
        super().__init__(f"{where}: {message}")


@dataclass
class ProviderConfig:
    name: str
    type: str
    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = None  # allowed but discouraged: we warn if the file is readable by others
    models: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    max_tokens: int | None = None
    chars_per_second: float = 300.0  # demo only
    reasoning_summary: str | None = None  # openai-responses only: "auto" asks for reasoning summaries
    reasoning_effort: str | None = None  # openai-responses only

    def resolve_key(self) -> str | None:
        """The API key from the environment (or config); None when the provider needs none."""
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None

    @property
    def needs_key(self) -> bool:
        return bool(self.api_key_env) and not self.api_key


@dataclass
class StreamConfig:
    partial_interval_ms: int = 200
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    total_timeout: float = 900.0
    retry_attempts: int = 3
    retry_base_delay: float = 1.0
    retry_max_delay: float = 30.0


@dataclass
class Config:
    path: Path | None = None
    default_model: str = DEMO_MODEL
    theme: str = "muxtui-dark"
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    fallback_on: tuple[ErrorType, ...] = DEFAULT_FALLBACK_ON
    stream: StreamConfig = field(default_factory=StreamConfig)
    keys: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: ConfigError | None = None  # set when the file was invalid and defaults are in use

    def models(self) -> list[str]:
        """Every "provider:model" the config names, for the model picker."""
        seen: dict[str, None] = {self.default_model: None}
        for p in self.providers.values():
            for m in p.models:
                seen[f"{p.name}:{m}"] = None
        for src, chain in self.fallbacks.items():
            seen[src] = None
            for m in chain:
                seen[m] = None
        return list(seen)


def builtin_providers() -> dict[str, ProviderConfig]:
    return {
        "demo": ProviderConfig("demo", "demo", models=["muxtui-demo", "muxtui-thinking"]),
        "openai": ProviderConfig(
            "openai", "openai", base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY",
            models=["gpt-4o-mini", "gpt-4o"],
        ),
        "anthropic": ProviderConfig(
            "anthropic", "anthropic", base_url="https://api.anthropic.com", api_key_env="ANTHROPIC_API_KEY",
            models=["claude-sonnet-4-5", "claude-haiku-4-5"],
        ),
    }


def split_model(spec: str) -> tuple[str, str]:
    """'provider:model' -> (provider, model). The model part may itself contain ':'."""
    provider, sep, model = spec.partition(":")
    if not sep or not provider or not model:
        raise ValueError(f"model '{spec}' is not of the form <provider>:<model>")
    return provider, model


def _line_of(text: str, key: str, table: str | None) -> int | None:
    """Best-effort line number of `key` (inside [table] when given) for error messages."""
    lines = text.splitlines()
    in_table = table is None
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    for i, line in enumerate(lines, 1):
        m = header.match(line)
        if m:
            name = m.group(1).replace('"', "").replace("'", "")
            in_table = table is not None and name == table
            if table is not None and name == table and key == "":
                return i
            continue
        if in_table and re.match(rf'^\s*["\']?{re.escape(key)}["\']?\s*=', line):
            return i
    return None


def load(path: Path | None) -> Config:
    """Load config.toml. Missing file: defaults. Invalid file: raises ConfigError."""
    cfg = Config(path=path, providers=builtin_providers())
    if path is None or not path.exists():
        return cfg
    try:
        raw_bytes = path.read_bytes()
        text = raw_bytes.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(path, f"invalid TOML: {exc}", line=int(m.group(1)) if m else None) from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}") from None

    def fail(message: str, key: str, table: str | None = None) -> ConfigError:
        full = f"{table}.{key}" if table else key
        return ConfigError(path, message, line=_line_of(text, key, table), key=full)

    def expect(value: Any, kind: type | tuple[type, ...], key: str, table: str | None = None) -> Any:
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise fail(f"expected a number, got {value!r}", key, table)
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise fail(f"expected {names}, got {type(value).__name__} {value!r}", key, table)
        return value

    known_top = {"default_model", "theme", "providers", "fallbacks", "fallback_on", "stream", "keys"}
    for key in data:
        if key not in known_top:
            cfg.warnings.append(f"{path}: unknown key '{key}' ignored")

    for name, p in expect(data.get("providers", {}), dict, "providers").items():
        table = f"providers.{name}"
        expect(p, dict, name, "providers")
        ptype = p.get("type")
        if ptype not in PROVIDER_TYPES:
            raise fail(f"type must be one of {', '.join(PROVIDER_TYPES)}, got {ptype!r}", "type", table) if "type" in p \
                else ConfigError(path, f"provider '{name}' needs type = " + " | ".join(f'"{t}"' for t in PROVIDER_TYPES),
                                 line=_line_of(text, "", table), key=f"{table}.type")
        base = builtin_providers().get(name)
        pc = ProviderConfig(name, ptype, base_url=base.base_url if base and base.type == ptype else None)
        if "base_url" in p:
            url = expect(p["base_url"], str, "base_url", table)
            if not re.match(r"^https?://[^\s/]+", url):
                raise fail(f"base_url must start with http:// or https://, got {redact_url(url)!r}", "base_url", table)
            try:
                urlsplit(url).port  # raises for a port out of range or a broken IPv6 literal
            except ValueError as exc:
                raise fail(f"base_url {redact_url(url)!r} is not a valid URL ({exc})", "base_url", table) from None
            pc.base_url = url.rstrip("/")
        if ptype != "demo" and not pc.base_url:
            raise ConfigError(path, f"provider '{name}' needs base_url", line=_line_of(text, "", table),
                              key=f"{table}.base_url")
        if "api_key_env" in p:
            pc.api_key_env = expect(p["api_key_env"], str, "api_key_env", table)
        elif base and base.type == ptype:
            pc.api_key_env = base.api_key_env
        if "api_key" in p:
            pc.api_key = expect(p["api_key"], str, "api_key", table)
            try:
                mode = path.stat().st_mode
                if mode & (stat.S_IRGRP | stat.S_IROTH):
                    cfg.warnings.append(
                        f"{path} holds an API key and is readable by other users: run chmod 600 {path}"
                    )
            except OSError:
                pass
        if "models" in p:
            models = expect(p["models"], list, "models", table)
            pc.models = [expect(m, str, "models", table) for m in models]
        elif base and base.type == ptype:
            pc.models = list(base.models)
        if "headers" in p:
            headers = expect(p["headers"], dict, "headers", table)
            pc.headers = {str(k): expect(v, str, "headers", table) for k, v in headers.items()}
        if "max_tokens" in p:
            pc.max_tokens = expect(p["max_tokens"], int, "max_tokens", table)
        if "chars_per_second" in p:
            pc.chars_per_second = float(expect(p["chars_per_second"], (int, float), "chars_per_second", table))
        for key, allowed in (("reasoning_summary", REASONING_SUMMARIES), ("reasoning_effort", REASONING_EFFORTS)):
            if key in p:
                value = expect(p[key], str, key, table)
                if ptype != "openai-responses":
                    raise fail(f'only providers of type "openai-responses" take {key}', key, table)
                if value not in allowed:
                    raise fail(f"must be one of {', '.join(allowed)}, got {value!r}", key, table)
                setattr(pc, key, value)
        cfg.providers[name] = pc

    if "default_model" in data:
        spec = expect(data["default_model"], str, "default_model")
        try:
            prov, _ = split_model(spec)
        except ValueError as exc:
            raise fail(str(exc), "default_model") from None
        if prov not in cfg.providers:
            raise fail(f"provider '{prov}' is not defined (add a [providers.{prov}] table)", "default_model")
        cfg.default_model = spec
    if "theme" in data:
        cfg.theme = expect(data["theme"], str, "theme")

    for src, chain in expect(data.get("fallbacks", {}), dict, "fallbacks").items():
        chain = expect(chain, list, src, "fallbacks")
        cfg.fallbacks[src] = [expect(m, str, src, "fallbacks") for m in chain]
    if "fallback_on" in data:
        values = expect(data["fallback_on"], list, "fallback_on")
        try:
            cfg.fallback_on = tuple(ErrorType(v) for v in values)
        except ValueError as exc:
            raise fail(f"{exc}; known types: {', '.join(e.value for e in ErrorType)}", "fallback_on") from None

    stream = expect(data.get("stream", {}), dict, "stream")
    for key, value in stream.items():
        if not hasattr(cfg.stream, key):
            raise fail(f"unknown setting (known: {', '.join(StreamConfig.__dataclass_fields__)})", key, "stream")
        current = getattr(cfg.stream, key)
        value = expect(value, (int, float), key, "stream")
        if value < 0 or (key != "retry_attempts" and key.endswith(("timeout", "interval_ms")) and value == 0):
            raise fail(f"must be positive, got {value}", key, "stream")
        setattr(cfg.stream, key, type(current)(value))

    for action, key in expect(data.get("keys", {}), dict, "keys").items():
        cfg.keys[action] = expect(key, str, action, "keys")
    return cfg


def load_or_default(path: Path | None) -> Config:
    """For the app: an invalid file is reported and defaults are used; it is never overwritten."""
    try:
        return load(path)
    except ConfigError as exc:
        cfg = Config(path=path, providers=builtin_providers(), error=exc)
        return cfg


def save_setting(path: Path, key: str, value: str) -> None:
    """Set a top-level string setting, keeping the rest of the file (comments too) as it was."""
    import tomli_w

    encoded = tomli_w.dumps({key: value}).strip()
    if path.exists():
        text = path.read_text("utf-8")
        tomllib.loads(text)  # refuse to touch a file we cannot parse
        lines = text.splitlines(keepends=True)
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i, line in enumerate(lines):
            if line.lstrip().startswith("["):
                lines.insert(0, encoded + "\n")  # absent: top-level keys go before the first table
                break
            if pattern.match(line):
                lines[i] = encoded + "\n"
                break
        else:
            lines.insert(0, encoded + "\n")
        new = "".join(lines)
    else:
        new = encoded + "\n"
    tomllib.loads(new)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic.write_text(path, new)
