"""One class per provider type, found through ``muxtui.engine.providers.registry``: config
checks the types the registry hands down (config never imports the engine), the stream manager
builds providers from it, the catalog and ``muxtui doctor`` ask it how to reach a server."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from muxtui import config as config_mod
from muxtui.engine import catalog as catalog_mod
from muxtui.engine.manager import default_provider_factory
from muxtui.engine.providers import ProviderClass, registry


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in a test are gone after it."""
    monkeypatch.setattr(registry, "_classes", dict(registry._classes))
    monkeypatch.setattr(config_mod, "_provider_types", dict(config_mod._provider_types))


def test_each_type_is_one_class_and_config_knows_what_it_says():
    assert registry.types() == ("openai", "anthropic", "openai-responses", "demo")
    for name in registry.types():
        cls = registry.get(name)
        spec = config_mod.provider_types()[name]
        assert cls.type_name == name
        assert spec.needs_base_url == cls.needs_base_url
        assert spec.options == tuple(cls.config_options)
    assert registry.get("demo").offline and not registry.get("demo").lists_models
    with pytest.raises(KeyError, match="unknown provider type 'nope'.*known: openai"):
        registry.get("nope")


def test_a_new_class_is_the_only_place_to_add_a_provider_type(tmp_path, scratch_registry):
    class EchoProvider(ProviderClass):
        type_name = "echo-test"
        needs_base_url = False
        config_options = (("reasoning_effort", ("low", "high")),)

        def __init__(self, name: str, effort: str | None) -> None:
            self.name, self.effort = name, effort

        @classmethod
        def from_config(cls, pc, cfg):
            return cls(pc.name, pc.reasoning_effort)

    path = tmp_path / "config.toml"
    path.write_text('[providers.e]\ntype = "echo-test"\nreasoning_effort = "high"\n')
    with pytest.raises(config_mod.ConfigError, match="type must be one of openai, anthropic, openai-responses, demo"):
        config_mod.load(path)

    registry.register(EchoProvider)
    cfg = config_mod.load(path)
    provider = default_provider_factory(cfg.providers["e"], cfg)
    assert isinstance(provider, EchoProvider) and provider.effort == "high"
    assert not catalog_mod.listable("echo-test")

    # Its own keys are refused for the other types, naming every type that takes them.
    path.write_text('[providers.o]\ntype = "openai"\nbase_url = "http://x/v1"\nreasoning_effort = "low"\n')
    with pytest.raises(config_mod.ConfigError, match='only providers of type "openai-responses" or "echo-test"'):
        config_mod.load(path)


def test_doctor_and_catalog_ask_the_class_for_the_models_endpoint():
    pc = config_mod.ProviderConfig("a", "anthropic", base_url="https://h.example/v1", headers={"x-org": "o"})
    url, headers = registry.get("anthropic").models_request(pc, "k")
    assert url == "https://h.example/v1/models"
    assert headers == {"x-org": "o", "anthropic-version": "2023-06-01", "x-api-key": "k"}
    pc = config_mod.ProviderConfig("o", "openai-responses", base_url="https://h.example/v1/responses")
    assert registry.get("openai-responses").models_request(pc, "k") == (
        "https://h.example/v1/models", {"authorization": "Bearer k"})
    with pytest.raises(NotImplementedError):
        registry.get("demo").models_request(config_mod.ProviderConfig("d", "demo"), None)


def test_config_alone_imports_no_engine_and_refuses_to_guess_the_types(tmp_path):
    """Loaded without the engine's registry, a config with a provider fails loudly (a
    programming error), instead of accepting or refusing every type; a config without one loads."""
    path = tmp_path / "config.toml"
    path.write_text('[providers.o]\ntype = "openai"\nbase_url = "http://x/v1"\n')
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from muxtui import config
        assert not [m for m in sys.modules if m.startswith("muxtui.engine")], "config imported the engine"
        assert config.load(Path({str(tmp_path / "absent.toml")!r})).providers["demo"].type == "demo"
        try:
            config.load(Path({str(path)!r}))
        except RuntimeError as exc:
            print(exc)
        import muxtui.engine.providers
        print(config.load(Path({str(path)!r})).providers["o"].type)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "no provider types registered: import muxtui.engine.providers before loading a config", "openai"]
