"""The command line in front of a real terminal (a pty) and a pipe: model text, names and errors
never drive the terminal; --raw and pipes keep the exact text; secrets, damaged files, odd
names and closed pipes are handled (issue 10, parts 3 and 4).

Each test runs the real `muxtui` in a subprocess against the session's fake server.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from urllib.parse import quote

from tests.helpers.cli import COMMAND, history, muxtui, muxtui_env
from tests.helpers.home import TEST_KEY
from tests.helpers.terminal import read_some

TITLE = "\x1b]0;PWNED-TITLE\x07"
CLEAR = "\x1b[2J"
ALTSCREEN = "\x1b[?1049h"
OSC52 = "\x1b]52;c;aGFja2Vk\x07"
HOSTILE = (f"start {TITLE} {CLEAR} {ALTSCREEN} {OSC52} c1\x9b31m del\x7f bidi\u202eabc "
           "cr\rover nul\x00 tab\tend\nline two")
# What a terminal must show instead (muxtui.safetext): control pictures for C0 and DEL,
# <U+XXXX> for C1 and bidi controls.
STAND_INS = ("␛]0;PWNED-TITLE␇", "␛[2J", "␛[?1049h", "␛]52;c;aGFja2Vk␇", "c1<U+009B>31m", "del␡",
             "bidi<U+202E>abc", "cr␍over", "nul␀", "tab\tend")
HOSTILE_MODEL = "fake:m?text=" + quote(HOSTILE)


def run_in_pty(home, *args, timeout: float = 60.0) -> tuple[int, bytes]:
    """Run muxtui with stdout and stderr on a pseudo-terminal; return its status and every byte
    the terminal received."""
    master, slave = pty.openpty()
    env = muxtui_env(home, TERM="xterm-256color")
    proc = subprocess.Popen([*COMMAND, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            before = len(out)
            if not read_some(master, out, 0.5):
                break
            if len(out) == before and proc.poll() is not None:
                break
        else:
            raise AssertionError(f"muxtui {args} did not finish; output so far {bytes(out[-300:])!r}")
        return proc.wait(timeout=30), bytes(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def assert_inert(out: bytes) -> str:
    """No control character reached the terminal except newline, CR (from the tty's own
    newline translation) and tab; returns the decoded text."""
    text = out.decode("utf-8")
    bad = sorted({f"U+{ord(c):04X}" for c in text
                  if (ord(c) < 0x20 and c not in "\n\r\t") or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u2066\u2069"})
    assert not bad, f"control characters reached the terminal: {bad}"
    assert "\r" not in text.replace("\r\n", ""), "a bare CR reached the terminal"
    return text


def test_send_history_and_export_show_escapes_as_stand_ins_on_a_terminal(home):
    rc, out = run_in_pty(home, "send", "-w", "hostile", "-m", HOSTILE_MODEL, "hi")
    assert rc == 0, out
    for name, (rc, out) in {"send": (rc, out),
                            "history": run_in_pty(home, "history", "-w", "hostile"),
                            "history --json": run_in_pty(home, "history", "-w", "hostile", "--json"),
                            "export": run_in_pty(home, "export", "-w", "hostile")}.items():
        assert rc == 0, (name, out)
        text = assert_inert(out)
        for shown in STAND_INS[:4] if name == "history --json" else STAND_INS:
            # JSON already writes C0 controls as \u001b; C1, DEL and bidi it leaves raw.
            assert shown in text or name == "history --json", (name, shown, text)
        if name == "history --json":
            assert "\\u001b]0;PWNED-TITLE\\u0007" in text and "<U+009B>" in text and "<U+202E>" in text


def test_raw_and_pipes_keep_the_exact_text(home, fake_server):
    exact = HOSTILE.encode()
    out = muxtui(home, "send", "-w", "exact", "-m", HOSTILE_MODEL, "hi", text=False)  # a pipe
    assert out.returncode == 0, out.stderr
    assert out.stdout == exact + b"\n"
    assert history(home, "exact")["messages"][-1]["content"] == HOSTILE
    assert exact in muxtui(home, "history", "-w", "exact", text=False).stdout
    assert exact in muxtui(home, "export", "-w", "exact", text=False).stdout
    # --raw on a terminal: the bytes as they are (the tty only turns \n into \r\n).
    rc, raw = run_in_pty(home, "send", "--raw", "-w", "exact", "-m", HOSTILE_MODEL, "again")
    assert rc == 0
    assert HOSTILE.replace("\n", "\r\n").encode() in raw
    rc, raw = run_in_pty(home, "export", "--raw", "-w", "exact")
    assert rc == 0 and TITLE.encode() in raw and OSC52.encode() in raw


def test_error_messages_and_names_are_inert_on_a_terminal(home):
    # The model name travels into the provider's error message, which the CLI prints on stderr.
    model = f"fake:gone{TITLE}{OSC52}?status=404"
    # An existing workspace keeps the failed reply (a new one would go to the trash on a 404).
    rc, _ = run_in_pty(home, "send", "-w", "errs", "-m", "fake:m?text=ok", "hi")
    assert rc == 0
    rc, out = run_in_pty(home, "send", "-w", "errs", "-m", model, "hi")
    assert rc == 1
    text = assert_inert(out)
    assert "␛]0;PWNED-TITLE␇" in text and "model_not_found" in text
    rc, out = run_in_pty(home, "history", "-w", "errs")
    text = assert_inert(out)
    assert rc == 0 and "␛]0;PWNED-TITLE␇" in text
    # argparse's own message quotes what was typed.
    rc, out = run_in_pty(home, f"bogus{CLEAR}")
    assert rc == 2
    assert_inert(out)


def test_api_key_echoed_in_a_reply_never_reaches_stdout_or_files(home, fake_server):
    out = muxtui(home, "send", "-w", "echo", "-m", "fake:m?text=Hello.&echo_key=1", "hi")
    assert out.returncode == 0, out.stderr
    rec = fake_server.requests[-1]
    assert TEST_KEY in str(rec["headers"])  # the key really was sent, and echoed in 5-char pieces
    assert TEST_KEY not in out.stdout and "[redacted]" in out.stdout
    assert out.stdout == "Hello.\n\nYour key is [redacted] (echoed).\n"
    for args in (("history", "-w", "echo"), ("history", "-w", "echo", "--json"), ("export", "-w", "echo"),
                 ("logs", "--audit")):
        shown = muxtui(home, *args)
        assert TEST_KEY not in shown.stdout + shown.stderr, args
    for path in home.config_dir.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), path


def test_doctor_hides_credentials_in_base_url(home, fake_server):
    url = fake_server.openai_base_url.replace("http://", "http://alice:hunter2-pass@")
    home.config_file.write_text(home.config_file.read_text() + f'\n[providers.creds]\ntype = "openai"\n'
                                f'base_url = "{url}"\n')
    out = muxtui(home, "doctor")
    assert "provider creds: http://[redacted]@127.0.0.1" in out.stdout, out.stdout
    assert "hunter2-pass" not in out.stdout + out.stderr and "alice" not in out.stdout + out.stderr
    # A base_url the config refuses is quoted in the error without its credentials.
    home.config_file.write_text(home.config_file.read_text().replace(url, "http://alice:hunter2-pass@host:99999/v1"))
    for args in (("doctor",), ("workspaces",)):
        out = muxtui(home, *args)
        assert "base_url" in out.stdout + out.stderr and "[redacted]@host:99999" in out.stdout + out.stderr
        assert "hunter2-pass" not in out.stdout + out.stderr, args


def test_export_and_history_survive_an_out_of_range_created_at(home):
    assert muxtui(home, "send", "-w", "dates", "-m", "fake:m?text=fine", "hi").returncode == 0
    ws_id = history(home, "dates")["workspace"]["id"]
    chat = home.data_dir / "workspaces" / ws_id / "chat.jsonl"
    before = chat.read_bytes()
    lines = before.decode().splitlines()
    for i, bad in ((0, 1e300), (1, "yesterday")):
        rec = json.loads(lines[i])
        rec["created_at"] = bad
        lines[i] = json.dumps(rec)
    lines.append(json.dumps({"v": 1, "kind": "message", "seq": 9, "role": "user", "content": "x",
                             "id": "m9", "created_at": float("inf")}).replace("Infinity", "1e999"))
    chat.write_text("\n".join(lines) + "\n")
    damaged = chat.read_bytes()
    out = muxtui(home, "export", "-w", "dates")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout.count("unknown time") == 3 and "fine" in out.stdout
    assert "line 1: created_at 1e+300 is not a valid time" in out.stderr
    assert "line 2: created_at 'yesterday' is not a valid time" in out.stderr
    assert "line 3: created_at inf is not a valid time" in out.stderr
    out = muxtui(home, "history", "-w", "dates")
    assert out.returncode == 0 and "created_at 1e+300" in out.stderr
    assert chat.read_bytes() == damaged  # reading repairs in memory only


def test_long_and_spaced_names_find_the_same_workspace(home):
    long_name = "n" * 300
    spaced = "two  spaces   here"
    for name in (long_name, spaced):
        for text in ("one", "two"):
            out = muxtui(home, "send", "-w", name, "-m", "fake:m?text=ok", text)
            assert out.returncode == 0, out.stderr
        data = history(home, name)
        assert [m["content"] for m in data["messages"] if m["role"] == "user"] == ["one", "two"]
        assert muxtui(home, "export", "-w", name).returncode == 0
    listing = muxtui(home, "workspaces").stdout.splitlines()
    assert len(listing) == 2, listing  # no second workspace for either name


def test_history_json_into_a_closed_pipe_ends_quietly(home):
    assert muxtui(home, "send", "-w", "big", "-m", "fake:m?huge=300000", "hi").returncode == 0
    env = muxtui_env(home)
    for command in ("history -w big --json", "history -w big", "export -w big", "workspaces"):
        cmd = (f"{sys.executable} -m muxtui {command} | head -c 10 > /dev/null;"
               " echo \"rc=${PIPESTATUS[0]}\" >&2")
        if command == "workspaces":  # too short to fill a pipe: close the pipe before it writes
            cmd = f"{sys.executable} -m muxtui {command} 1>&- 2>/dev/null; echo rc=0 >&2"
        out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=60)
        assert "Traceback" not in out.stderr and "Error" not in out.stderr, (command, out.stderr[-2000:])
        assert "rc=141" in out.stderr or command == "workspaces", (command, out.stderr)


def test_terminal_writer_mends_a_crlf_split_across_writes():
    import io

    from muxtui.safetext import TerminalText

    target = io.StringIO()
    writer = TerminalText(target)
    for chunk in ("one\r", "\ntwo\r", "three\x1b[2J", "\r"):
        writer.write(chunk)
    writer.finish()
    assert target.getvalue() == "one\ntwo␍three␛[2J␍"
