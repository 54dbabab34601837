"""The servers' model lists (muxtui.engine.catalog) over real HTTP against the fake server:
both dialects, pages, the per-provider cache and its age, and every way a server can have none."""

from __future__ import annotations

import asyncio
import json

import pytest

from muxtui import config as config_mod
from muxtui.config import ProviderConfig
from muxtui.engine import catalog as catalog_mod
from muxtui.engine.catalog import ModelCatalog
from muxtui.engine.providers import anthropic as anthropic_mod

from tests.helpers.home import TEST_KEY


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cfg(home):
    return config_mod.load(home.config_file)


def make(cfg, home, clock=None, **providers) -> ModelCatalog:
    for name, (ptype, url) in providers.items():
        cfg.providers[name] = ProviderConfig(name, ptype, base_url=url, api_key_env="MUXTUI_TEST_KEY",
                                             models=[f"{name}-configured"])
    return ModelCatalog(cfg, home.data_dir / "cache", clock=clock or Clock())


async def test_openai_list_with_bearer_key(cfg, home, fake_server):
    cat = make(cfg, home, oa=("openai", f"{fake_server.base_url}/x/models=m1,m2/v1"))
    sm = await cat.fetch("oa")
    assert sm.models == ("m1", "m2") and sm.supported is True and sm.error is None
    req = [r for r in fake_server.requests if r["path"] == "/v1/models"][-1]
    assert req["headers"]["authorization"] == f"Bearer {TEST_KEY}"
    assert cat.listing([sm])[: len(cfg.models())] == cfg.models()  # configured first
    assert cat.listing([sm])[-2:] == ["oa:m1", "oa:m2"]


async def test_anthropic_list_follows_pages_with_its_headers(cfg, home, fake_server, monkeypatch):
    monkeypatch.setattr(anthropic_mod, "_PAGE_SIZE", 2)
    cat = make(cfg, home, an=("anthropic", f"{fake_server.base_url}/x/models=c1,c2,c3,c4,c5"))
    before = len(fake_server.requests)
    sm = await cat.fetch("an")
    assert sm.models == ("c1", "c2", "c3", "c4", "c5")
    asked = [r for r in fake_server.requests[before:] if r["path"] == "/v1/models"]
    assert len(asked) == 3  # pages of 2: c1-c2, c3-c4, c5
    for r in asked:
        assert r["headers"]["x-api-key"] == TEST_KEY and r["headers"]["anthropic-version"]
        assert "authorization" not in r["headers"]


async def test_gemini_style_ids_lose_the_models_prefix(cfg, home, fake_server):
    """Gemini's OpenAI-compatible endpoint names models "models/gemini-..."; chat takes the bare name."""
    cat = make(cfg, home, gem=("openai", f"{fake_server.base_url}/x/models=models%2Fgemini-2.5-flash/v1"))
    sm = await cat.fetch("gem")
    assert sm.models == ("gemini-2.5-flash",)


@pytest.mark.parametrize(
    ("url", "supported", "words"),
    [
        ("{base}/x/models_status=404/v1", False, "no models endpoint (HTTP 404)"),
        ("{base}/x/models_status=500/v1", None, "HTTP 500"),
        ("http://127.0.0.1:9/v1", None, "cannot reach the server"),
    ],
)
async def test_no_list_falls_back_quietly_and_keeps_the_last_good_one(cfg, home, fake_server, url, supported, words):
    clock = Clock()
    good = make(cfg, home, clock, p=("openai", f"{fake_server.base_url}/x/models=kept/v1"))
    assert (await good.fetch("p")).models == ("kept",)
    cfg.providers["p"].base_url = url.format(base=fake_server.base_url)
    sm = await good.fetch("p", refresh=True)
    assert sm.supported is supported and words in sm.error
    assert sm.models == ("kept",)  # the last good list stays usable
    assert TEST_KEY not in json.dumps(sm.to_dict())
    assert good.listing([sm])[-1] == "p:kept"


async def test_cache_age_decides_when_to_ask_again(cfg, home, fake_server):
    clock = Clock()
    cat = make(cfg, home, clock, p=("openai", f"{fake_server.base_url}/x/models=a/v1"))
    count = lambda: sum(1 for r in fake_server.requests if r["path"] == "/v1/models")  # noqa: E731
    await cat.fetch("p")
    n = count()
    clock.now += catalog_mod.CACHE_TTL - 1
    assert (await cat.fetch("p")).models == ("a",) and count() == n  # fresh: from the file
    clock.now += 2
    await cat.fetch("p")
    assert count() == n + 1  # a day old: asked again
    await cat.fetch("p", refresh=True)
    assert count() == n + 2  # refresh always asks
    # A fresh catalog (a new process) reads the same file.
    again = ModelCatalog(cfg, home.data_dir / "cache", clock=clock)
    assert (await again.fetch("p")).models == ("a",) and count() == n + 2


async def test_unreachable_is_asked_again_sooner_than_a_missing_endpoint(cfg, home, fake_server):
    clock = Clock()
    cat = make(cfg, home, clock, down=("openai", "http://127.0.0.1:9/v1"),
               none=("openai", f"{fake_server.base_url}/x/models_status=404/v1"))
    down, none = await cat.fetch_all(["down", "none"])
    clock.now += catalog_mod.FAILURE_TTL + 1
    assert not cat.is_fresh(cat.cached("down")) and cat.is_fresh(cat.cached("none"))


async def test_concurrent_asks_share_one_request(cfg, home, fake_server):
    gate = f"share-{id(cfg)}"
    cat = make(cfg, home, p=("openai", f"{fake_server.base_url}/x/models_gate={gate}&models=z/v1"))
    before = sum(1 for r in fake_server.requests if r["path"] == "/v1/models")
    tasks = [asyncio.ensure_future(cat.fetch("p", refresh=True)) for _ in range(3)]
    await fake_server.areached(gate)
    fake_server.release(gate)
    results = await asyncio.gather(*tasks)
    assert {r.models for r in results} == {("z",)}
    assert sum(1 for r in fake_server.requests if r["path"] == "/v1/models") == before + 1


async def test_providers_that_cannot_be_asked(cfg, home, fake_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    cat = make(cfg, home)
    before = len(fake_server.requests)
    for name in ("demo", "openai", "nokey"):  # built in, no key, no key
        sm = await cat.fetch(name)
        assert sm.models == () and not cat.can_list(name)
    assert len(fake_server.requests) == before


def test_a_damaged_cache_file_is_ignored(cfg, home):
    cat = make(cfg, home)
    path = cat.cache_file("fake")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert cat.cached("fake") is None
    assert cat.cache_file("a/b") != cat.cache_file("a_b")  # odd provider names never collide or escape
    assert cat.cache_file("../x").parent == path.parent
