"""The diagnostic subcommands: `muxtui models` (what each server lists) and `muxtui doctor`."""

from __future__ import annotations

import json
import sys
import time

from muxtui.cli.common import EXIT_ERROR, EXIT_USAGE
from muxtui.humanize import ago
from muxtui.paths import Paths

async def _models(args, paths: Paths, cfg) -> int:
    """`muxtui models [PROVIDER] [--json] [--refresh]`: configured models first, then the server's."""
    from muxtui.config import split_model
    from muxtui.client.tools import ModelCatalog, listable

    catalog = ModelCatalog(cfg, paths.data_dir / "cache")
    names = catalog.providers()
    if args.provider:
        if args.provider not in cfg.providers:
            print(f"muxtui: no provider {args.provider!r} (configured: {', '.join(names)})", file=sys.stderr)
            return EXIT_USAGE
        names = [args.provider]
    lists = await catalog.fetch_all(names, refresh=args.refresh)
    now = time.time()
    report = []
    for sm in lists:
        pc = cfg.providers[sm.provider]
        configured = [m for m in cfg.models() if split_model(m)[0] == sm.provider]
        server = [f"{sm.provider}:{m}" for m in sm.models]
        if not listable(pc.type):
            why = "configured models only"
        elif not catalog.can_list(sm.provider):
            why = f"no key (set {pc.api_key_env})"
        else:
            why = sm.error
        report.append({"name": sm.provider, "type": pc.type, "models": list(dict.fromkeys(configured + server)),
                       "configured": configured, "server": server, "fetched_at": sm.fetched_at,
                       "checked_at": sm.checked_at, "supported": sm.supported, "note": why})
    if args.json:
        print(json.dumps({"providers": report}, ensure_ascii=False, indent=1))
        return 0
    for entry in report:
        head = f"# {entry['name']} ({entry['type']})"
        if entry["server"]:
            head += f": {len(entry['server'])} from the server"
            if entry["fetched_at"]:
                head += f", fetched {ago(now - entry['fetched_at'])}"
        if entry["note"]:
            head += (": " if not entry["server"] else "; ") + entry["note"]
            if not entry["server"] and listable(entry["type"]):
                head += " (configured models only)"
        print(head)
        for model in entry["models"]:
            print(model + ("  (configured)" if model in entry["configured"] else ""))
    return 0


async def _doctor(paths: Paths) -> int:
    import httpx

    from muxtui import config as config_mod
    from muxtui.client.tools import Redactor, provider_kind
    from muxtui.redact import configured_secrets, redact_url

    ok = True
    print(f"config: {paths.config_file} ({'present' if paths.config_file.exists() else 'absent: defaults in use'})")
    print(f"data:   {paths.data_dir}")
    print(f"logs:   {paths.log_dir}")
    try:
        cfg = config_mod.load(paths.config_file)
    except config_mod.ConfigError as exc:
        print(f"config: INVALID: {exc}")
        return EXIT_ERROR
    for w in cfg.warnings:
        print(f"warning: {w}")
    for problem in cfg.key_errors:
        print(f"keys: REFUSED: {problem}")
        ok = False
    print(f"default model: {cfg.default_model}")
    redact = Redactor(configured_secrets(cfg, min_len=4))
    for pc in cfg.providers.values():
        kind = provider_kind(pc.type)
        if kind.offline:
            print(f"provider {pc.name}: {pc.type} (offline) ok")
            continue
        key = pc.resolve_key()
        if pc.needs_key and not key:
            print(f"provider {pc.name}: no key (set {pc.api_key_env}) — skipped")
            await _doctor_features(pc, paths, cfg)
            continue
        # The models endpoint is the probe: it costs nothing and needs the key.
        url, headers = kind.models_request(pc, key)
        try:
            async with httpx.AsyncClient(timeout=cfg.stream.connect_timeout) as client:
                r = await client.get(url, headers=headers)
            # A server without a models endpoint is reachable and fine: chat works without it.
            fine = r.status_code < 400 or r.status_code in (404, 405, 501)
            state = "ok" if r.status_code < 400 else "ok (no models endpoint)" if fine else f"HTTP {r.status_code}"
            ok = ok and fine
        except Exception as exc:  # httpx errors, and e.g. idna errors for odd host names
            state = f"unreachable ({type(exc).__name__}: {exc})"
            ok = False
        print(f"provider {pc.name}: {redact_url(pc.base_url)} {redact(state)}")
        await _doctor_features(pc, paths, cfg)
    return 0 if ok else EXIT_ERROR


async def _doctor_features(pc, paths: Paths, cfg) -> None:
    """Per provider: what its server was seen to support. The models endpoint is asked now;
    the rest comes from the provider's recent replies (engine.features), never guessed."""
    from muxtui.client.tools import ModelCatalog, listable
    from muxtui.client.tools import FEATURES, load_features

    cache = paths.data_dir / "cache"
    catalog = ModelCatalog(cfg, cache)
    if not listable(pc.type):
        models = "not probed (this provider type has no models endpoint)"
    elif not catalog.can_list(pc.name):
        models = "not probed (no key)"
    else:
        sm = await catalog.fetch(pc.name, refresh=True)
        if sm.supported:
            models = f"yes ({len(sm.models)} models)"
        elif sm.supported is False:
            models = f"no: {sm.error}; the picker shows the configured models"
        else:
            models = f"not probed: {sm.error}"
    print(f"  models endpoint: {models}")
    record = load_features(cache, pc.name) or {}
    replies = record.get("replies") or 0
    seen = record.get("seen") or {}
    now = time.time()
    for name, label in FEATURES.items():
        when = seen.get(name)
        if isinstance(when, (int, float)):
            text = f"yes (seen {ago(now - when)})"
        elif replies:
            text = f"not seen in {replies} repl{'y' if replies == 1 else 'ies'}"
        else:
            text = "not probed (no reply yet)"
        print(f"  {label}: {text}")
    last = record.get("last_error")
    if isinstance(last, dict) and isinstance(last.get("at"), (int, float)):
        print(f"  last error: {last.get('type')} ({ago(now - last['at'])})")
