"""The real app under a pseudo-terminal: hostile model output never reaches the terminal as control
sequences, and the API key never reaches the screen or any file.

Model output carrying OSC 52 (clipboard write), a title change, cursor moves, a screen clear,
bidi overrides and NULs must arrive as visible, inert text.
"""

from __future__ import annotations

import os
import signal
import time
from urllib.parse import quote

import pytest

from tests.helpers.terminal import app_in_pty, read_some, read_until

KEY = "sk-test-terminal-KEY-9876543210"
OSC52 = "\x1b]52;c;aGFja2Vk\x07"
TITLE = "\x1b]0;PWNED-TITLE\x07"
CURSOR = "\x1b[5;5HXYZZY"
CLEAR = "\x1b[2J\x1b[3J"
BIDI = "abc\u202edcba\u2066x\u2069"
HOSTILE = f"start {OSC52} {TITLE} {CURSOR} {CLEAR} {BIDI} nul\x00here [bold]lit[/bold] [/INST] END+REPLY"


def run_app_in_pty(home, keys: list[bytes], until: str, timeout: float = 40.0) -> bytes:
    env = {**os.environ, "MUXTUI_HOME": str(home), "TERM": "xterm-256color", "COLUMNS": "110", "LINES": "32",
           "MUXTUI_TEST_KEY": KEY}
    env.pop("TEXTUAL", None)
    pid, fd = app_in_pty(env, "--no-engine")
    import fcntl
    import struct
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 32, 110, 0, 0))
    out = bytearray()
    deadline = time.monotonic() + timeout
    sent_keys = False
    try:
        while time.monotonic() < deadline:
            if not read_some(fd, out, 0.1):
                break
            if not sent_keys and b"enter send" in out:
                for k in keys:
                    os.write(fd, k)
                    time.sleep(0.05)  # typing pace of a person, not synchronisation
                sent_keys = True
            if sent_keys and until in visible_text(bytes(out)):
                break
        else:
            raise AssertionError(f"never saw {until!r} on screen; last bytes: {bytes(out[-400:])!r}")
    finally:
        os.kill(pid, signal.SIGTERM)  # the app commits and exits; keep reading what it writes
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end and read_some(fd, out, 0.1):
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)
    return bytes(out)


def visible_text(out: bytes) -> str:
    """What the terminal shows as text: escape sequences removed, runs of cells joined."""
    import re

    text = out.decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;?<>=$]*[A-Za-z~]", "", text)  # CSI (colours, cursor moves by Textual)
    text = re.sub(r"\x1b\][^\x07\x1b]*(\x07|\x1b\\\\)", "", text)  # OSC written by Textual itself
    return text


@pytest.fixture
def pty_home(tmp_path, fake_server):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'default_model = "fake:m?text={quote(HOSTILE)}"\n'
        f'[providers.fake]\ntype = "openai"\nbase_url = "{fake_server.openai_base_url}"\n'
        'api_key_env = "MUXTUI_TEST_KEY"\n'
        "[stream]\nretry_attempts = 1\n"
    )
    return home


def test_hostile_output_reaches_the_terminal_inert(pty_home):
    out = run_app_in_pty(pty_home, [b"hi", b"\r"], until="END+REPLY")
    for seq in (OSC52, TITLE, CURSOR, "\x1b[2J\x1b[3J", "\u202e", "\u2066"):
        assert seq.encode() not in out, f"{seq!r} reached the terminal"
    assert b"\x1b]52;" not in out and b"PWNED-TITLE\x07" not in out
    assert b"\x00" not in out
    # ...but the text is visible: the user can see what the model tried.
    screen = visible_text(out)
    for text in ("PWNED-TITLE", "XYZZY", "[bold]lit[/bold]", "[/INST]", "END+REPLY"):
        assert text in screen, text


def test_api_key_never_reaches_screen_or_files(pty_home, fake_server):
    cfg = pty_home / "config.toml"
    cfg.write_text(cfg.read_text().replace(f'fake:m?text={quote(HOSTILE)}', "fake:m?status=401&echo_key=1"))
    out = run_app_in_pty(pty_home, [b"hi", b"\r"], until="authentication")
    assert any(KEY in str(r["headers"]) for r in fake_server.requests)  # the key really was sent
    assert KEY.encode() not in out
    for path in pty_home.rglob("*"):
        if path.is_file() and path.name != "config.toml":
            assert KEY.encode() not in path.read_bytes(), path


def test_sighup_with_the_terminal_gone_saves_and_exits(pty_home, fake_server):
    """tmux kill-session / an SSH drop: the pty disappears and SIGHUP arrives. The app must
    commit the partial reply and exit, not hang forever writing to a dead terminal."""
    import json
    import uuid

    gate = f"hup{uuid.uuid4().hex[:6]}"
    cfg = pty_home / "config.toml"
    cfg.write_text(cfg.read_text().replace(f"fake:m?text={quote(HOSTILE)}",
                                           f"fake:m?chunks=200&pause_after=20&gate={gate}"))
    env = {**os.environ, "MUXTUI_HOME": str(pty_home), "TERM": "xterm-256color", "MUXTUI_TEST_KEY": KEY}
    pid, fd = app_in_pty(env, "--no-engine")
    out = bytearray()
    try:
        deadline = time.monotonic() + 30
        read_until(fd, out, b"enter send", 30)
        os.write(fd, b"go\r")
        fake_server.wait_reached(gate, timeout=20)
        partial = next(pty_home.rglob("partial.json"), None)
        while partial is None and time.monotonic() < deadline:  # the first partial write
            read_some(fd, out, 0.05)
            partial = next(pty_home.rglob("partial.json"), None)
        os.close(fd)  # the terminal goes away...
        os.kill(pid, signal.SIGHUP)  # ...and the kernel/tmux/sshd sends SIGHUP
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError("the app did not exit after SIGHUP with its terminal gone")
    finally:
        fake_server.release(gate)
    chat = next(pty_home.rglob("chat.jsonl"))
    last = json.loads(chat.read_text().splitlines()[-1])
    assert last["status"] == "interrupted" and last["content"] and not last.get("recovered")
    assert not next(pty_home.rglob("partial.json"), None)
