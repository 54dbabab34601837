"""[keys] bindings that cannot work are refused at load, with file, line and reason; the rest stay.

Checked without Textual (the config is engine-side); tests/ui/test_key_bindings.py checks the
names against Textual's own and the app's behaviour.
"""

from __future__ import annotations

from muxtui import config as config_mod
from muxtui.config import check_key, check_keys

from tests.helpers.cli import muxtui


def test_bad_bindings_are_refused_with_file_line_and_reason(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[keys]\nquit = "enter"\nerrors = "ctrl+shift+e"\nrename = "super+r"\n'
                    'retry = "nosuchkey"\nnew-workspace = "f6"\ninterrupt = "x"\ntheme = "ctrl+j"\n')
    cfg = config_mod.load(path)
    assert cfg.keys == {"new-workspace": "f6"}
    problems = {e.split("key 'keys.")[1].split("'")[0]: e for e in cfg.key_errors}
    assert set(problems) == {"quit", "errors", "rename", "retry", "interrupt", "theme"}
    assert str(path) in problems["quit"] and "line 2" in problems["quit"]
    assert "composer's send key" in problems["quit"]
    assert "ctrl+shift+e as ctrl+e" in problems["errors"]
    assert "super+" in problems["rename"]
    assert "unknown key name 'nosuchkey'" in problems["retry"]
    assert "type or edit" in problems["interrupt"]
    assert "newline key" in problems["theme"]
    assert all("ignored" in e for e in cfg.key_errors)


def test_rebinding_send_moves_what_is_reserved():
    accepted, refused = check_keys({"send": "ctrl+s", "retry": "ctrl+s", "newline": "ctrl+s"})
    assert accepted == {"send": "ctrl+s"}
    assert {a for a, _ in refused} == {"retry", "newline"}
    # enter is still a key the composer edits with (a newline) even when it no longer sends.
    assert check_keys({"send": "ctrl+s", "quit": "enter"})[0] == {"send": "ctrl+s"}
    # A focused queued message may use plain keys; that is not the composer.
    assert check_keys({"queued-edit": "enter", "queued-remove": "x"})[0] == {"queued-edit": "enter",
                                                                             "queued-remove": "x"}


def test_keys_are_written_as_textual_matches_them():
    assert check_key("shift+ctrl+Up") == ("ctrl+shift+up", "ctrl+shift+up")
    assert check_key("ctrl+A")[0] == "ctrl+a"
    assert check_key("shift+a")[0] == "A"
    assert check_key("ctrl+m")[1] == "enter"  # the same key on the wire
    assert check_key("")[0] is None and check_key("hyper+k")[0] is None


def test_doctor_refuses_a_binding(home):
    home.config_file.write_text(home.config_file.read_text() + '\n[keys]\nquit = "enter"\nnew-workspace = "f6"\n')
    out = muxtui(home, "doctor")
    assert "keys: REFUSED" in out.stdout and "keys.quit" in out.stdout and "send key" in out.stdout
    assert "new-workspace" not in out.stdout
    assert out.returncode == 1
    # The other commands are not held up by a key binding.
    assert muxtui(home, "send", "-w", "k", "-m", "fake:m?chunks=2", "hi").returncode == 0
