"""`muxtui models [PROVIDER] [--json] [--refresh]` in real subprocesses against the fake server."""

from __future__ import annotations

import json

from tests.helpers.cli import muxtui

EXTRA = """
[providers.listing]
type = "openai"
base_url = "{base}/x/models=alpha,beta/v1"
models = ["mine"]
api_key_env = "MUXTUI_TEST_KEY"

[providers.nolist]
type = "openai"
base_url = "{base}/x/models_status=404/v1"
models = ["only-this"]

[providers.claude]
type = "anthropic"
base_url = "{base}/x/models=c-one,c-two"
api_key_env = "MUXTUI_TEST_KEY"
"""


def configure(home, fake_server):
    path = home.config_file
    path.write_text(path.read_text() + EXTRA.format(base=fake_server.base_url))


def count(fake_server) -> int:
    return sum(1 for r in fake_server.requests if r["path"] == "/v1/models")


def test_models_lists_configured_first_then_the_server(home, fake_server):
    configure(home, fake_server)
    out = muxtui(home, "models", "listing", env_extra={"OPENAI_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("# listing (openai): 2 from the server, fetched")
    assert lines[1:] == ["listing:mine  (configured)", "listing:alpha", "listing:beta"]


def test_models_json_and_a_server_without_the_endpoint(home, fake_server):
    configure(home, fake_server)
    out = muxtui(home, "models", "--json", env_extra={"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # no error for the 404 server, nor for the unreachable "refused" one
    data = {p["name"]: p for p in json.loads(out.stdout)["providers"]}
    assert data["listing"]["models"] == ["listing:mine", "listing:alpha", "listing:beta"]
    assert data["nolist"]["models"] == ["nolist:only-this"] and data["nolist"]["supported"] is False
    assert "no models endpoint" in data["nolist"]["note"]
    assert data["claude"]["server"] == ["claude:c-one", "claude:c-two"]
    assert data["demo"]["models"] == ["demo:muxtui-demo", "demo:muxtui-thinking"]
    assert data["nokey"]["note"] == "no key (set MUXTUI_TEST_MISSING_KEY)"
    assert "cannot reach the server" in data["refused"]["note"]
    assert data["fake"]["configured"] == ["fake:plain"]  # the default model counts as configured


def test_models_uses_the_cache_until_refresh(home, fake_server):
    configure(home, fake_server)
    assert muxtui(home, "models", "listing").returncode == 0
    n = count(fake_server)
    again = muxtui(home, "models", "listing")
    assert again.returncode == 0 and count(fake_server) == n  # from the cache file
    assert "listing:alpha" in again.stdout
    fresh = muxtui(home, "models", "listing", "--refresh")
    assert fresh.returncode == 0 and count(fake_server) == n + 1


def test_models_unknown_provider_is_a_usage_error(home, fake_server):
    out = muxtui(home, "models", "nope")
    assert out.returncode == 2 and "no provider 'nope'" in out.stderr and "fake" in out.stderr


def test_doctor_names_what_each_server_was_seen_to_support(home, fake_server):
    configure(home, fake_server)
    sent = muxtui(home, "send", "-w", "feat", "-m", "fake:feat?chunks=4&reasoning=2", "hi")
    assert sent.returncode == 0, sent.stderr
    out = muxtui(home, "doctor", env_extra={"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": ""})
    blocks = {}
    for line in out.stdout.splitlines():
        if line.startswith("provider "):
            current = line.split(":")[0][len("provider "):]
            blocks[current] = []
        elif line.startswith("  ") and blocks:
            blocks[current].append(line.strip())
    fake = blocks["fake"]
    assert "models endpoint: yes (3 models)" in fake
    assert any(x.startswith("streaming: yes (seen") for x in fake)
    assert any(x.startswith("usage in stream: yes (seen") for x in fake)
    assert any(x.startswith("reasoning: yes (seen") for x in fake)
    assert "tool calls: not seen in 1 reply" in fake  # honest: asked once, none came back
    assert blocks["listing"][0] == "models endpoint: yes (2 models)"
    assert "streaming: not probed (no reply yet)" in blocks["listing"]  # nothing is claimed unseen
    assert blocks["nolist"][0].startswith("models endpoint: no: the server has no models endpoint (HTTP 404)")
    assert "provider nolist: " in out.stdout and "ok (no models endpoint)" in out.stdout
    assert blocks["nokey"][0] == "models endpoint: not probed (no key)"
    assert blocks["refused"][0].startswith("models endpoint: not probed: cannot reach the server")
