"""The typed config, loaded once from config.toml (tomllib) and edited in place when saved.

An invalid file gets a ConfigError naming the file, line and key, and is never overwritten.

Config is the bottom layer: it never imports the engine (an import-linter contract checks it).
Which provider ``type`` values exist, and which keys each one takes, is the engine's knowledge:
each provider class registers a ``ProviderType`` here (``register_provider_type``, called by
``muxtui.engine.providers.registry`` when it is imported), and ``load`` checks against those.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from muxtui import atomic
from muxtui import settings as settings_mod
from muxtui.error_types import ErrorType
from muxtui.redact import redact_url

DEMO_MODEL = "demo:muxtui-demo"

# Sensible fallbacks for error types that another model might not hit.
DEFAULT_FALLBACK_ON = (ErrorType.MODEL_NOT_FOUND, ErrorType.SERVER_ERROR, ErrorType.RATE_LIMIT, ErrorType.QUOTA)


@dataclass(frozen=True, slots=True)
class ProviderType:
    """What config.toml may say for one provider ``type`` (registered by its provider class)."""

    name: str
    needs_base_url: bool = True
    # Keys only this type takes, each with its allowed values (strings).
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()


_provider_types: dict[str, ProviderType] = {}


def register_provider_type(ptype: ProviderType) -> None:
    _provider_types[ptype.name] = ptype


def provider_types() -> dict[str, ProviderType]:
    """The registered provider types, in registration order."""
    if not _provider_types:
        # A programming error, never a user's: loading a config without the engine's registry
        # would accept any type, or refuse every one.
        raise RuntimeError("no provider types registered: import muxtui.engine.providers before loading a config")
    return dict(_provider_types)


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
    retry_after_max: float = 60.0  # a longer Retry-After ends the turn (with retry_at) instead of waiting


@dataclass
class EngineConfig:
    """[engine]: the per-user engine process (muxtui.host)."""

    mode: str = "engine"  # "engine": the app is a client of `muxtui engine`; "embedded": in-process
    idle_exit_minutes: float = 30.0  # exit with no client and no stream for this long


ENGINE_MODES = ("engine", "embedded")


@dataclass
class UiConfig:
    """[ui]: how the app draws itself."""

    # The composer's blinking cursor repaints its line twice a second: ~470 bytes/s to the
    # terminal with nothing else happening (over SSH, and a reason some terminals never sleep).
    cursor_blink: bool = True


@dataclass
class ContextConfig:
    """[context]: the context meter and compaction (muxtui.engine.context)."""

    window: int | None = None  # tokens, for models neither the server nor the built-in table knows
    windows: dict[str, int] = field(default_factory=dict)  # [context.windows] "provider:model" or "model" = N
    auto_compact: bool = False  # compact before a send that would overflow the window
    keep_turns: int = 2  # the last N turns stay as they are when compacting
    compact_model: str | None = None  # summaries with this model (default: the workspace's)


ATTACHMENT_MAX_MB = 45  # base64 of 45 MB is 60 MB: one engine-socket message (64 MiB) still carries it


@dataclass
class AttachmentsConfig:
    """[attachments]: size limits (MB) per kind, and which models take images
    (muxtui.engine.attachments, muxtui.engine.providers.parts)."""

    max_text_mb: float = 2.0
    max_image_mb: float = 20.0
    max_pdf_mb: float = 32.0
    # Models ("provider:model", a model name, or a name prefix ending in "*") that do / do not
    # take images; they win over the built-in table of text-only model families.
    image_models: list[str] = field(default_factory=list)
    text_only_models: list[str] = field(default_factory=list)
    # The app: a paste of more lines becomes a text attachment (a chip) instead of flooding the
    # composer; 0 keeps every paste as text (a huge one still as a "pasted" chip).
    paste_lines: int = 30


@dataclass
class Config:
    path: Path | None = None
    default_model: str = DEMO_MODEL
    theme: str = "muxtui-dark"
    providers: dict[str, ProviderConfig] = field(default_factory=dict)
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    fallback_on: tuple[ErrorType, ...] = DEFAULT_FALLBACK_ON
    stream: StreamConfig = field(default_factory=StreamConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    attachments: AttachmentsConfig = field(default_factory=AttachmentsConfig)
    keys: dict[str, str] = field(default_factory=dict)
    key_errors: list[str] = field(default_factory=list)  # refused [keys] bindings (defaults kept)
    defaults: dict[str, Any] = field(default_factory=dict)  # [defaults]: request settings
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)  # [presets.NAME]
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


def model_problem(cfg: Config, spec: str) -> str | None:
    """Why `spec` cannot be used with this config (malformed, unknown provider, no API key), or
    None. Model names themselves are open-ended: an OpenAI-compatible server decides which it
    serves, and its 404 says so."""
    try:
        provider, _ = split_model(spec)
    except ValueError as exc:
        return str(exc)
    pc = cfg.providers.get(provider)
    if pc is None:
        known = ", ".join(sorted(cfg.providers))
        return f"unknown provider '{provider}' in model '{spec}' (known: {known}); add [providers.{provider}] to config.toml"
    if pc.needs_key and not pc.resolve_key():
        return f"no API key for provider '{provider}': set {pc.api_key_env} or api_key_env in config.toml"
    return None


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

    known_top = {"default_model", "theme", "providers", "fallbacks", "fallback_on", "stream", "keys", "defaults",
                 "presets", "engine", "ui", "context", "attachments"}
    for key in data:
        if key not in known_top:
            cfg.warnings.append(f"{path}: unknown key '{key}' ignored")

    types = provider_types()
    option_keys = list(dict.fromkeys(key for t in types.values() for key, _ in t.options))
    for name, p in expect(data.get("providers", {}), dict, "providers").items():
        table = f"providers.{name}"
        expect(p, dict, name, "providers")
        ptype = p.get("type")
        if ptype not in types:
            raise fail(f"type must be one of {', '.join(types)}, got {ptype!r}", "type", table) if "type" in p \
                else ConfigError(path, f"provider '{name}' needs type = " + " | ".join(f'"{t}"' for t in types),
                                 line=_line_of(text, "", table), key=f"{table}.type")
        spec = types[ptype]
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
        if spec.needs_base_url and not pc.base_url:
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
        own = dict(spec.options)
        for key in option_keys:
            if key in p:
                value = expect(p[key], str, key, table)
                if key not in own:
                    takers = " or ".join(f'"{t.name}"' for t in types.values() if key in dict(t.options))
                    raise fail(f"only providers of type {takers} take {key}", key, table)
                if value not in own[key]:
                    raise fail(f"must be one of {', '.join(own[key])}, got {value!r}", key, table)
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

    engine = expect(data.get("engine", {}), dict, "engine")
    for key, value in engine.items():
        if key == "mode":
            if expect(value, str, key, "engine") not in ENGINE_MODES:
                raise fail(f"must be one of {', '.join(ENGINE_MODES)}, got {value!r}", key, "engine")
            cfg.engine.mode = value
        elif key == "idle_exit_minutes":
            if expect(value, (int, float), key, "engine") <= 0:
                raise fail(f"must be positive, got {value}", key, "engine")
            cfg.engine.idle_exit_minutes = float(value)
        else:
            raise fail(f"unknown setting (known: {', '.join(EngineConfig.__dataclass_fields__)})", key, "engine")

    for key, value in expect(data.get("ui", {}), dict, "ui").items():
        if key == "cursor_blink":
            cfg.ui.cursor_blink = expect(value, bool, key, "ui")
        else:
            raise fail(f"unknown setting (known: {', '.join(UiConfig.__dataclass_fields__)})", key, "ui")
    for key, value in expect(data.get("context", {}), dict, "context").items():
        if key in ("window", "keep_turns"):
            if expect(value, int, key, "context") < (1 if key == "window" else 0):
                raise fail(f"must be a positive number of {'tokens' if key == 'window' else 'turns'}, got {value}",
                           key, "context")
            setattr(cfg.context, key, value)
        elif key == "auto_compact":
            cfg.context.auto_compact = expect(value, bool, key, "context")
        elif key == "compact_model":
            cfg.context.compact_model = expect(value, str, key, "context") or None
        elif key == "windows":
            for model, n in expect(value, dict, key, "context").items():
                if expect(n, int, model, "context.windows") < 1:
                    raise fail(f"must be a positive number of tokens, got {n}", model, "context.windows")
                cfg.context.windows[model] = n
        else:
            raise fail(f"unknown setting (known: {', '.join(ContextConfig.__dataclass_fields__)})", key, "context")

    for key, value in expect(data.get("attachments", {}), dict, "attachments").items():
        if key.startswith("max_") and key in AttachmentsConfig.__dataclass_fields__:
            if expect(value, (int, float), key, "attachments") <= 0:
                raise fail(f"must be a positive number of MB, got {value}", key, "attachments")
            if value > ATTACHMENT_MAX_MB:
                raise fail(f"must be at most {ATTACHMENT_MAX_MB} MB (a file crosses the engine socket as one "
                           f"message of at most 64 MiB, in base64), got {value}", key, "attachments")
            setattr(cfg.attachments, key, float(value))
        elif key == "paste_lines":
            if type(value) is not int or value < 0:
                raise fail(f"must be a whole number of lines (0: never), got {value!r}", key, "attachments")
            cfg.attachments.paste_lines = value
        elif key in ("image_models", "text_only_models"):
            setattr(cfg.attachments, key, [expect(m, str, key, "attachments") for m in expect(value, list, key,
                                                                                              "attachments")])
        else:
            raise fail(f"unknown setting (known: {', '.join(AttachmentsConfig.__dataclass_fields__)})", key,
                       "attachments")

    for action, key in expect(data.get("keys", {}), dict, "keys").items():
        cfg.keys[action] = expect(key, str, action, "keys")
    cfg.keys, refused = check_keys(cfg.keys)
    for action, problem in refused:
        cfg.key_errors.append(str(fail(f"{problem}; this binding is ignored ('{action}' keeps its default key)",
                                       action, "keys")))

    def request_settings(raw: Any, table: str) -> dict[str, Any]:
        try:
            return settings_mod.validate(raw, table)
        except ValueError as exc:
            head, _, message = str(exc).partition(": ")
            key = head[len(table) + 1:] if head.startswith(table + ".") else ""
            raise ConfigError(path, message, line=_line_of(text, key, table), key=head) from None

    cfg.defaults = request_settings(data.get("defaults", {}), "defaults")
    for name, raw in expect(data.get("presets", {}), dict, "presets").items():
        cfg.presets[name] = request_settings(raw, f"presets.{name}")
    return cfg


# ---- key bindings ([keys]) -------------------------------------------------------------------
# Checked here, without Textual, so that `muxtui doctor` and the app refuse the same bindings.

# The composer's own keys (ui/composer.py reads them): no other binding may take them.
COMPOSER_KEYS = {"send": "enter", "newline": "alt+enter,ctrl+j"}
# Bindings of a focused widget other than the composer (a queued message): plain keys are fine.
# Bindings of a focused widget or a dialog, never of the composer: plain keys are fine there.
LOCAL_ACTIONS = frozenset({
    "send", "newline", "queued-edit", "queued-remove", "queued-send-now", "queued-leave",
    "message-up", "message-down", "message-first", "message-last", "message-copy", "message-copy-code",
    "message-edit", "message-fork", "message-retry", "message-leave",
    "confirm-yes", "confirm-no", "confirm-default", "errors-close", "errors-toggle-interrupts",
})
_MODIFIERS = frozenset({"alt", "ctrl", "shift"})
_DESKTOP_MODIFIERS = frozenset({"super", "hyper", "meta", "cmd", "command", "win", "windows", "option", "opt"})
_NAMED_KEYS = frozenset({"enter", "return", "escape", "tab", "backspace", "delete", "insert", "home", "end", "pageup",
                         "pagedown", "up", "down", "left", "right", "space", *(f"f{n}" for n in range(1, 25))})
# Textual's short names for some characters (its KEY_NAME_REPLACEMENTS), and keys that are the
# same key on the wire.
_SHORT_NAMES = {"solidus": "slash", "reverse_solidus": "backslash", "commercial_at": "at",
                "hyphen_minus": "minus", "plus_sign": "plus", "low_line": "underscore"}
_SAME_KEY = {"return": "enter", "ctrl+m": "enter", "ctrl+i": "tab", "newline": "ctrl+j",
             "ctrl+left_square_bracket": "escape", "ctrl+space": "ctrl+at"}
# Keys the composer edits text with: an app-wide binding would take them from it.
_EDITING_KEYS = frozenset({"enter", "backspace", "delete", "left", "right", "up", "down", "home", "end", "tab",
                           "shift+tab", "space"})


def _key_name(base: str) -> str | None:
    """Textual's name for one key without modifiers ("?" -> "question_mark"), or None."""
    if len(base) == 1:
        if not base.isprintable():
            return None
        if base.isalnum():
            return base
        try:
            name = unicodedata.name(base).lower().replace("-", "_").replace(" ", "_")
        except ValueError:
            return None
        return _SHORT_NAMES.get(name, name)
    if base in _NAMED_KEYS or base in _SHORT_NAMES.values():
        return base
    try:
        char = unicodedata.lookup(base.replace("_", " ").upper())
    except KeyError:
        return None
    return base if len(char) == 1 and char.isprintable() and not char.isalnum() else None


def check_key(key: str) -> tuple[str | None, str | None]:
    """(the key written as Textual matches it, its name for comparisons), or (None, why no
    terminal sends it). "shift+ctrl+X" is written "ctrl+shift+x"; "?" is compared as
    "question_mark", "ctrl+m" as "enter"."""
    key = key.strip()
    if not key:
        return None, "an empty key"
    mods_text, _, base = key.rpartition("+")
    if not base and key.endswith("+"):  # "ctrl++": the plus key
        mods_text, base = key[:-2], "+"
    mods = [m.strip().lower() for m in mods_text.split("+")] if mods_text else []
    for m in mods:
        if m in _DESKTOP_MODIFIERS:
            return None, f"'{key}': terminals do not send {m}+ keys to programs (the desktop keeps them)"
        if m not in _MODIFIERS:
            return None, f"'{key}': unknown modifier '{m}' (use ctrl, alt, shift)"
    if (mods and len(base) == 1 and base.isalpha()) or len(base) > 1:
        base = base.lower()
    name = _key_name(base)
    if name is None:
        return None, (f"'{key}': unknown key name '{base}' (a character, or enter, escape, tab, space, "
                      "backspace, delete, insert, home, end, pageup, pagedown, up, down, left, right, f1-f24)")
    mods_set = set(mods)
    if {"ctrl", "shift"} <= mods_set and len(name) == 1 and name.isalpha():
        return None, f"'{key}': terminals send ctrl+shift+{name} as ctrl+{name}"
    if mods_set == {"shift"} and len(name) == 1 and name.isalpha():
        return name.upper(), name.upper()  # what the terminal sends for shift+a is "A"
    canonical = "+".join([*sorted(mods_set), name])
    return "+".join([*sorted(mods_set), base]), _SAME_KEY.get(canonical, canonical)


def check_keys(keys: dict[str, str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The [keys] bindings that can work, in Textual's spelling, and (action, reason) for each
    refused one: a key no terminal sends, or a key the composer needs (send, newline, typing)."""
    accepted: dict[str, str] = {}
    names: dict[str, list[str]] = {}  # action -> its keys as compared
    refused: list[tuple[str, str]] = []
    for action, value in keys.items():
        checked = [check_key(k) for k in value.split(",")]
        problem = next((p for k, p in checked if k is None), None)
        if problem:
            refused.append((action, problem))
        else:
            accepted[action] = ",".join(dict.fromkeys(k for k, _ in checked if k))
            names[action] = [n for _, n in checked if n]

    def composer_keys(which: str) -> list[str]:
        return names.get(which) or [n for k in COMPOSER_KEYS[which].split(",") if (n := check_key(k)[1])]

    owner = {k: which for which in ("newline", "send") for k in composer_keys(which)}
    if "newline" in accepted and set(composer_keys("newline")) & set(composer_keys("send")):
        refused.append(("newline", f"'{accepted['newline']}' would also be the send key"))
        del accepted["newline"], names["newline"]
        owner = {k: which for which in ("newline", "send") for k in composer_keys(which)}
    for action, value in list(accepted.items()):
        if action in LOCAL_ACTIONS:
            continue
        for k in names[action]:
            if k in owner:
                problem = f"'{k}' is the composer's {owner[k]} key: bound to {action} it would take it away"
            elif len(k) == 1 or k in _EDITING_KEYS:
                problem = f"'{k}' is a key you type or edit with in the composer: bound to {action} it would take it away"
            else:
                continue
            refused.append((action, problem))
            del accepted[action]
            break
    return accepted, refused


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
