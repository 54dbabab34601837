"""`muxtui send` / `muxtui logs` details, in real subprocesses against the fake server: stdin's
last newline, no stray blank line, the logs table, model validation before anything is created,
and a long Retry-After that stops (or, with --wait, counts down and retries) instead of hanging.
"""

from __future__ import annotations

import json
import time

from tests.helpers.cli import history, muxtui


def registry_names(home) -> list[str]:
    reg = home.data_dir / "workspaces.json"
    if not reg.exists():
        return []
    return [e["name"] for e in json.loads(reg.read_text())["workspaces"]]


# ---- stdin and output -----------------------------------------------------------------------

def test_stdin_drops_one_trailing_newline_only(home):
    out = muxtui(home, "send", "-w", "in", "-m", "fake:m?chunks=2", "-", input="line one\nline two\n")
    assert out.returncode == 0, out.stderr
    assert history(home, "in")["messages"][0]["content"] == "line one\nline two"
    # Blank lines typed on purpose stay; only the newline that ends the last line goes.
    out = muxtui(home, "send", "-w", "in2", "-m", "fake:m?chunks=2", "-", input="a\n\n\n")
    assert out.returncode == 0, out.stderr
    assert history(home, "in2")["messages"][0]["content"] == "a\n\n"


def test_error_prints_no_blank_line_and_reply_ends_with_one_newline(home):
    out = muxtui(home, "send", "-w", "e", "-m", "fake:m?status=401", "x")
    assert out.returncode == 1
    assert out.stdout == ""  # was "\n": a lone blank line on the terminal
    assert not out.stderr.startswith("\n")
    ok = muxtui(home, "send", "-w", "ok", "-m", "fake:m?text=hello%0A", "x")  # a reply ending in "\n"
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "hello\n"  # not "hello\n\n"
    ok = muxtui(home, "send", "-w", "ok", "-m", "fake:m?text=hello", "x")
    assert ok.stdout == "hello\n"


# ---- logs -------------------------------------------------------------------------------------

def test_logs_is_a_readable_table_and_json_on_request(home):
    assert muxtui(home, "send", "-w", "table ws", "-m", "fake:m?status=401", "x").returncode == 1
    assert muxtui(home, "send", "-w", "table ws", "-m", "fake:m?chunks=3", "y").returncode == 0
    out = muxtui(home, "logs", "--audit", env_extra={"COLUMNS": "72"})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["time", "kind", "workspace", "message"]
    assert all(len(line) <= 72 for line in lines), lines
    assert not any(line.lstrip().startswith("{") for line in lines)  # not JSON
    body = "\n".join(lines[1:])
    assert "upstream_error" in body and "complete" in body and "table ws" in body
    assert "authentication" in body and "HTTP 401" in body
    # A long message wraps under the message column instead of running off the screen.
    first_col = lines[0].index("message")
    wrapped = [line for line in lines[1:] if line[:first_col].strip() == ""]
    assert wrapped, lines
    js = muxtui(home, "logs", "--audit", "--json")
    records = [json.loads(line) for line in js.stdout.splitlines()]
    assert [r["close_kind"] for r in records] == ["upstream_error", "complete"]


def test_logs_on_an_empty_log_says_so(home):
    out = muxtui(home, "logs")
    assert out.returncode == 0 and out.stdout == "" and "nothing logged" in out.stderr


# ---- model validation -------------------------------------------------------------------------

def test_unknown_provider_fails_before_anything_is_created(home):
    out = muxtui(home, "send", "-w", "fresh", "-m", "nosuch:model", "hello")
    assert out.returncode == 2
    assert "unknown provider 'nosuch'" in out.stderr and "fake" in out.stderr
    assert "fresh" not in registry_names(home)
    out = muxtui(home, "send", "-w", "fresh", "-m", "no-colon", "hello")
    assert out.returncode == 2 and "<provider>:<model>" in out.stderr
    out = muxtui(home, "send", "-w", "fresh", "-m", "nokey:m", "hello")
    assert out.returncode == 2 and "MUXTUI_TEST_MISSING_KEY" in out.stderr
    assert "fresh" not in registry_names(home)


def test_existing_workspace_keeps_its_model_when_the_new_one_is_refused(home):
    assert muxtui(home, "send", "-w", "mine", "-m", "fake:m?chunks=2", "hi").returncode == 0
    out = muxtui(home, "send", "-w", "mine", "-m", "nosuch:model", "again")
    assert out.returncode == 2
    data = history(home, "mine")
    assert data["workspace"]["model"] == "fake:m?chunks=2"
    assert [m["content"] for m in data["messages"] if m["role"] == "user"] == ["hi"]


def test_server_404_leaves_no_new_workspace_and_restores_an_old_ones_model(home):
    out = muxtui(home, "send", "-w", "brand new", "-m", "fake:gone?status=404", "hello")
    assert out.returncode == 1
    assert "model_not_found" in out.stderr and "not kept" in out.stderr
    assert "brand new" not in registry_names(home)
    assert muxtui(home, "history", "-w", "brand new").returncode == 2
    assert any(home.data_dir.joinpath("trash").iterdir())  # moved to the trash, not destroyed
    # An existing workspace keeps its history (the failed turn included) and its model.
    assert muxtui(home, "send", "-w", "old", "-m", "fake:m?chunks=2", "one").returncode == 0
    out = muxtui(home, "send", "-w", "old", "-m", "fake:gone?status=404", "two")
    assert out.returncode == 1 and "keeps its model" in out.stderr
    data = history(home, "old")
    assert data["workspace"]["model"] == "fake:m?chunks=2"
    assert data["messages"][-1]["error_type"] == "model_not_found"


# ---- rate limits ------------------------------------------------------------------------------

def test_long_retry_after_stops_at_once_and_says_when(home, fake_server):
    started = time.monotonic()
    out = muxtui(home, "send", "-w", "rl", "-m", "fake:rl?status=429&retry_after=3600", "hello")
    took = time.monotonic() - started
    assert out.returncode == 1
    assert took < 20, took  # was 2 x 60 s of silent backoff
    assert "rate limited, retry in 1 h" in out.stderr and "--wait" in out.stderr
    assert "retrying in" not in out.stderr
    assert out.stdout == ""
    reply = history(home, "rl")["messages"][-1]
    assert reply["status"] == "error" and reply["error_type"] == "rate_limit"
    assert reply["retry_after"] == 3600 and abs(reply["retry_at"] - (time.time() + 3600)) < 60
    assert sum(1 for r in fake_server.requests if (r["json"] or {}).get("model") == "rl?status=429&retry_after=3600") == 1


def test_wait_counts_down_then_retries(home):
    home.config_file.write_text(home.config_file.read_text() + "retry_after_max = 0.5\n")  # in [stream]
    model = "fake:w?status=429&retry_after=2&fail_first=1&text=after_the_wait"
    started = time.monotonic()
    out = muxtui(home, "send", "--wait", "-w", "waits", "-m", model, "hello")
    took = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert out.stdout == "after_the_wait\n"
    assert "rate limited; waiting 2 s" in out.stderr and "retrying now" in out.stderr
    assert took >= 1.5  # it did wait for the Retry-After
    messages = history(home, "waits")["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]  # the failed reply left the conversation
    assert messages[-1]["status"] == "complete"
    # Without --wait the same shape stops, saying when to retry.
    out = muxtui(home, "send", "-w", "nowait", "-m", model.replace("w?", "w2?"), "hello")
    assert out.returncode == 1 and "rate limited, retry in 2 s" in out.stderr
