"""The model picker lists what the servers offer: it opens at once, fills in when the servers
answer, keeps the configured models first, refreshes with f5, and says nothing when a server
has no models endpoint."""

from __future__ import annotations

import json

import pytest
from textual.widgets import OptionList

from muxtui.ui.screens import ModelPicker

from tests.helpers.app import SIZE, make_app, start, until
from tests.helpers.home import write_config

EXTRA = """
[providers.listing]
type = "openai"
base_url = "{base}/x/models_gate={gate}&models=alpha,beta/v1"
models = ["mine"]

[providers.nolist]
type = "openai"
base_url = "{base}/x/models_status=404/v1"
models = ["only-this"]
"""


@pytest.fixture
def listing_paths(paths, fake_server, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):  # the built-in providers must not reach out
        monkeypatch.delenv(var, raising=False)
    gate = f"models-{id(paths)}"
    write_config(paths.config_dir, fake_server, profile="app", extra=EXTRA.format(base=fake_server.base_url, gate=gate))
    return paths, gate


def shown(app) -> list[str]:
    return list(app.screen._shown)


async def test_picker_opens_at_once_then_lists_the_servers_models(listing_paths, fake_server, monkeypatch):
    paths, gate = listing_paths
    app = make_app(paths)
    toasts: list[str] = []
    real_notify = app.notify
    monkeypatch.setattr(app, "notify", lambda message, *a, **k: (toasts.append(str(message)), real_notify(message, *a, **k)))
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker")
        # The server has not answered yet (its gate is closed): the configured models are there.
        await fake_server.areached(gate)
        models = shown(app)
        assert "listing:mine" in models and "nolist:only-this" in models
        assert "listing:alpha" not in models
        fake_server.release(gate)
        await until(pilot, lambda: "listing:alpha" in shown(app), "the server's models")
        models = shown(app)
        # Configured first (in config order), then what the servers added.
        assert models.index("listing:mine") < models.index("listing:alpha") < models.index("listing:beta")
        assert models.index("nolist:only-this") < models.index("listing:alpha")
        assert "fake:fake-model" in models  # the main fake provider lists its models too
        # The 404 server: configured list only, and no toast about it.
        assert not any(m.startswith("nolist:") and m != "nolist:only-this" for m in models)
        await until(pilot, lambda: not app.screen.asking, "the listing done")
        assert toasts == []
        # Each list is cached per provider, with the time it was fetched.
        cached = json.loads((paths.data_dir / "cache" / "models" / "listing.json").read_text())
        assert cached["models"] == ["alpha", "beta"] and cached["fetched_at"] > 0
        nolist = json.loads((paths.data_dir / "cache" / "models" / "nolist.json").read_text())
        assert nolist["supported"] is False and nolist["models"] == []
        # f5 asks the servers again, even though the cache is fresh.
        before = sum(1 for r in fake_server.requests if r["path"] == "/v1/models")
        await pilot.press("f5")
        await until(pilot, lambda: sum(1 for r in fake_server.requests if r["path"] == "/v1/models") > before,
                    "a fresh request")
        await until(pilot, lambda: not app.screen.asking, "the refresh done")
        assert "servers were asked just now" in str(app.screen.query_one("#model-status").render())
        assert app.focused is app.screen.query_one("#model-input")  # typing goes on filtering
        # Picking a server model works like any other.
        app.screen.query_one("#model-input").value = "beta"
        await pilot.press("enter")
        await until(pilot, lambda: app.tracker.get(app.current_id).model == "listing:beta", "the picked model")


async def test_second_open_uses_the_cache_without_asking(listing_paths, fake_server):
    paths, gate = listing_paths
    fake_server.release(gate)
    app = make_app(paths)
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker) and "listing:alpha" in shown(app), "the list")
        await until(pilot, lambda: not app.screen.asking, "the listing done")
        asked = sum(1 for r in fake_server.requests if r["path"] == "/v1/models")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ModelPicker), "the picker closed")
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker), "the picker again")
        assert "listing:alpha" in shown(app)  # known at once, from this run's lists
        await until(pilot, lambda: not app.screen.asking, "the listing done")
        assert sum(1 for r in fake_server.requests if r["path"] == "/v1/models") == asked
        assert app.screen.query_one(OptionList).option_count == len(shown(app))
