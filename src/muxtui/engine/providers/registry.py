"""Where each provider ``type`` of config.toml finds its class.

``register(cls)`` files a ``ProviderClass`` under its ``type_name`` and tells config which keys
that type takes (``muxtui.config.register_provider_type``: config sits below the engine and
cannot import it, so the engine hands the list down). ``get(type_name)`` is how the stream
manager builds a provider, the catalog lists models and ``muxtui doctor`` probes a server;
``types()`` lists the registered names. The built-in types are registered when this module is
imported (``muxtui.engine.providers`` imports it): by declaration, not by class, so that loading a
config (every CLI command does) imports no provider module and no httpx; ``get`` imports a
built-in class on first use. A test holds each declaration equal to its class's attributes.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from muxtui import config as config_mod
from muxtui.engine.providers.base import REASONING_EFFORTS, REASONING_SUMMARIES

if TYPE_CHECKING:
    from muxtui.engine.providers.base import ProviderClass

__all__ = ["get", "register", "types"]

# A registered class, or (module, class name) of a built-in one not imported yet.
_classes: dict[str, "type[ProviderClass] | tuple[str, str]"] = {}

# type_name, needs_base_url, config_options, module, class: each class's own attributes, repeated
# here so that registering the built-ins imports none of them.
_BUILTIN = (
    ("openai", True, (), "muxtui.engine.providers.openai", "OpenAIProvider"),
    ("anthropic", True, (), "muxtui.engine.providers.anthropic", "AnthropicProvider"),
    ("openai-responses", True,
     (("reasoning_summary", REASONING_SUMMARIES), ("reasoning_effort", REASONING_EFFORTS)),
     "muxtui.engine.providers.openai_responses", "OpenAIResponsesProvider"),
    ("demo", False, (), "muxtui.engine.providers.demo", "DemoProvider"),
)


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
        cls = _classes[type_name]
    except KeyError:
        raise KeyError(f"unknown provider type {type_name!r} (known: {', '.join(_classes)})") from None
    if isinstance(cls, tuple):
        module, name = cls
        cls = _classes[type_name] = getattr(import_module(module), name)
    return cls


def types() -> tuple[str, ...]:
    """The registered type names, in registration order (the order config errors list them)."""
    return tuple(_classes)


for _name, _needs_url, _options, _module, _class in _BUILTIN:
    _classes[_name] = (_module, _class)
    config_mod.register_provider_type(config_mod.ProviderType(_name, _needs_url, _options))
