"""Read-only engine tools for diagnostics (`muxtui models`, `muxtui doctor`): they read the
config, the model cache and the feature records, or probe a server, and hold no live state, so
they run in the caller's process whatever engine it talks to. Part of the client API's door
(``muxtui.cli`` may import the engine only through ``muxtui.client``)."""

from __future__ import annotations

from muxtui.engine.catalog import ModelCatalog, listable
from muxtui.engine.features import FEATURES, load_features
from muxtui.engine.logs import Redactor
from muxtui.engine.providers import registry

__all__ = ["FEATURES", "ModelCatalog", "Redactor", "listable", "load_features", "provider_kind"]


def provider_kind(type_name: str):
    """The provider class registered for a config ``type``."""
    return registry.get(type_name)
