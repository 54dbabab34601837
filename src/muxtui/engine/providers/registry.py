"""Where each provider ``type`` of config.toml finds its class.

``register(cls)`` files a ``ProviderClass`` under its ``type_name`` and tells config which keys
that type takes (``muxtui.config.register_provider_type``: config sits below the engine and
cannot import it, so the engine hands the list down). ``get(type_name)`` is how the stream
manager builds a provider, the catalog lists models and ``muxtui doctor`` probes a server;
``types()`` lists the registered names. The built-in types are registered when this module is
imported (``muxtui.engine.providers`` imports it).
"""

from __future__ import annotations

from muxtui import config as config_mod
from muxtui.engine.providers.anthropic import AnthropicProvider
from muxtui.engine.providers.base import ProviderClass
from muxtui.engine.providers.demo import DemoProvider
from muxtui.engine.providers.openai import OpenAIProvider
from muxtui.engine.providers.openai_responses import OpenAIResponsesProvider

__all__ = ["get", "register", "types"]

_classes: dict[str, type[ProviderClass]] = {}


def register(cls: type[ProviderClass]) -> type[ProviderClass]:
    """File ``cls`` under its ``type_name`` (a later class for the same name replaces it)."""
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} has no type_name")
    _classes[cls.type_name] = cls
    config_mod.register_provider_type(
        config_mod.ProviderType(cls.type_name, cls.needs_base_url, tuple(cls.config_options))
    )
    return cls


def get(type_name: str) -> type[ProviderClass]:
    """The class of a provider type; KeyError naming the known types for an unknown one."""
    try:
        return _classes[type_name]
    except KeyError:
        raise KeyError(f"unknown provider type {type_name!r} (known: {', '.join(_classes)})") from None


def types() -> tuple[str, ...]:
    """The registered type names, in registration order (the order config errors list them)."""
    return tuple(_classes)


for _cls in (OpenAIProvider, AnthropicProvider, OpenAIResponsesProvider, DemoProvider):
    register(_cls)
