"""Config: defaults, clear errors naming file/line/key, never overwritten, in-place saves."""

from __future__ import annotations

import os

import pytest

from muxtui import config as config_mod
from muxtui.config import ConfigError
from muxtui.paths import Paths


def test_no_config_means_offline_demo(tmp_path):
    cfg = config_mod.load(tmp_path / "config.toml")
    assert cfg.default_model == "demo:muxtui-demo"
    assert cfg.providers["demo"].type == "demo"


def test_openai_compatible_and_anthropic_providers(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text(
        'default_model = "local:some-model"\n'
        "[providers.local]\n"
        'type = "openai"\nbase_url = "http://127.0.0.1:8080/v1/"\napi_key_env = "LOCAL_API_KEY"\n'
        '[providers.claude]\ntype = "anthropic"\nbase_url = "https://api.anthropic.com"\n'
        '[fallbacks]\n"local:some-model" = ["claude:x"]\n'
        "[stream]\nread_timeout = 5\nretry_attempts = 2\n"
        '[keys]\ninterrupt = "ctrl+c"\n'
    )
    cfg = config_mod.load(p)
    assert cfg.default_model == "local:some-model"
    assert cfg.providers["local"].base_url == "http://127.0.0.1:8080/v1"
    assert cfg.providers["local"].api_key_env == "LOCAL_API_KEY"
    assert cfg.fallbacks == {"local:some-model": ["claude:x"]}
    assert (cfg.stream.read_timeout, cfg.stream.retry_attempts) == (5.0, 2)
    assert cfg.keys == {"interrupt": "ctrl+c"}


@pytest.mark.parametrize(
    "text, line, key",
    [
        ('default_model = "demo:x"\n[providers.a]\ntype = "openai"\nbase_url = 5\n', 4, "providers.a.base_url"),
        ('\n\ndefault_model = "nope:x"\n', 3, "default_model"),
        ('default_model = "x"\n', 1, "default_model"),
        ('[stream]\nread_timeout = "slow"\n', 2, "stream.read_timeout"),
        ('[stream]\nwhat = 1\n', 2, "stream.what"),
        ('[providers.a]\ntype = "grpc"\n', 2, "providers.a.type"),
        ('[providers.a]\ntype = "openai"\nbase_url = "http://h:999999/v1"\n', 3, "providers.a.base_url"),
        ('theme = "x"\n[providers\n', 2, None),
    ],
)
def test_invalid_config_names_file_line_and_key(tmp_path, text, line, key):
    p = tmp_path / "config.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        config_mod.load(p)
    err = info.value
    assert err.path == p and err.line == line and err.key == key
    assert str(p) in str(err) and f"line {line}" in str(err)


def test_invalid_config_is_never_overwritten(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text('theme = "a"\n[broken\n')
    cfg = config_mod.load_or_default(p)
    assert cfg.error is not None and cfg.default_model == "demo:muxtui-demo"
    with pytest.raises(Exception):
        config_mod.save_setting(p, "theme", "b")
    assert p.read_text() == 'theme = "a"\n[broken\n'


def test_save_setting_keeps_comments_and_other_keys(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text('# my settings\ntheme = "old"  # pick one\n\n[providers.x]\ntype = "demo"\n')
    config_mod.save_setting(p, "theme", "muxtui-light")
    text = p.read_text()
    assert text.startswith("# my settings\n")
    assert 'theme = "muxtui-light"' in text and "[providers.x]" in text
    assert config_mod.load(p).theme == "muxtui-light"
    assert p.stat().st_mode & 0o777 == 0o600


def test_key_in_world_readable_config_is_warned(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text('[providers.x]\ntype = "openai"\nbase_url = "http://h/v1"\napi_key = "sk-123456789"\n')
    os.chmod(p, 0o644)
    assert any("chmod 600" in w for w in config_mod.load(p).warnings)
    os.chmod(p, 0o600)
    assert not config_mod.load(p).warnings


def test_muxtui_home_puts_everything_under_one_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MUXTUI_HOME", str(tmp_path / "h"))
    paths = Paths.default()
    assert paths.config_file == tmp_path / "h" / "config.toml"
    assert str(paths.data_dir).startswith(str(tmp_path / "h"))
    assert str(paths.log_dir).startswith(str(tmp_path / "h"))
    assert Paths.default(tmp_path / "other").config_file == tmp_path / "other" / "config.toml"


def test_xdg_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("MUXTUI_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    paths = Paths.default()
    assert paths.config_file == tmp_path / "c" / "muxtui" / "config.toml"
    assert paths.data_dir == tmp_path / "d" / "muxtui"
