"""The CLI end to end in real subprocesses: send, history, export, logs, doctor, kill -9, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.helpers.cli import history, muxtui, muxtui_env, spawn
from tests.helpers.home import TEST_KEY


def request_index(server, model_tail: str) -> int:
    return max(i for i, r in enumerate(server.requests) if (r["json"] or {}).get("model") == model_tail)


def test_send_streams_to_stdout_and_history_json(home, fake_server):
    out = muxtui(home, "send", "-w", "notes", "-m", "fake:m?chunks=25&seed=9", "hello", "there")
    assert out.returncode == 0, out.stderr
    idx = request_index(fake_server, "m?chunks=25&seed=9")
    assert out.stdout.rstrip("\n") == fake_server.sent_text(idx)
    data = history(home, "notes")
    assert data["workspace"]["name"] == "notes"
    user, reply = data["messages"]
    assert user["content"] == "hello there" and user["role"] == "user"
    for key in ("id", "seq", "role", "content", "created_at", "model", "status", "usage"):
        assert key in reply
    assert reply["status"] == "complete" and reply["seq"] > user["seq"]
    # -w also takes the id; workspaces lists it.
    assert history(home, data["workspace"]["id"])["messages"] == data["messages"]
    listing = muxtui(home, "workspaces").stdout
    assert data["workspace"]["id"] in listing and "notes" in listing


def test_send_error_exits_nonzero_with_error_type(home):
    out = muxtui(home, "send", "-w", "e", "-m", "fake:m?status=401", "x")
    assert out.returncode == 1
    assert "authentication" in out.stderr
    assert TEST_KEY not in out.stderr + out.stdout
    logs = muxtui(home, "logs", "--errors", "--json")
    rec = json.loads(logs.stdout.splitlines()[-1])
    assert rec["error_type"] == "authentication" and rec["upstream_status"] == 401
    audit = muxtui(home, "logs", "--audit", "--json")
    assert json.loads(audit.stdout.splitlines()[-1])["close_kind"] == "upstream_error"


def test_export_markdown(home):
    assert muxtui(home, "send", "-w", "ex", "-m", "fake:m?chunks=5&text=Hello%20world", "q?").returncode == 0
    md = muxtui(home, "export", "-w", "ex").stdout
    assert md.startswith("# ex") and "q?" in md and "Hello world" in md


def test_invalid_config_is_reported_not_overwritten(home):
    bad = 'default_model = "demo:x"\n[providers.z]\ntype = "openai"\nbase_url = 12\n'
    home.config_file.write_text(bad)
    out = muxtui(home, "send", "-w", "x", "hi")
    assert out.returncode == 2
    assert str(home.config_file) in out.stderr and "line 4" in out.stderr and "providers.z.base_url" in out.stderr
    assert home.config_file.read_text() == bad


def test_unknown_workspace_is_a_clear_error(home):
    out = muxtui(home, "history", "-w", "nope")
    assert out.returncode == 2 and "no workspace" in out.stderr


def test_doctor_reports_providers(home):
    out = muxtui(home, "doctor")
    assert "provider fake:" in out.stdout and "ok" in out.stdout
    assert "provider refused:" in out.stdout and "unreachable" in out.stdout
    assert out.returncode == 1


def wait_for_partial(home, ws_name, want: str, timeout=10.0):
    """Poll the disk until the partial on disk holds `want` (the writer is throttled)."""
    deadline = time.monotonic() + timeout
    folder = None
    while time.monotonic() < deadline:
        reg = home.data_dir / "workspaces.json"
        if reg.exists():
            for e in json.loads(reg.read_text())["workspaces"]:
                if e["name"] == ws_name:
                    folder = home.data_dir / "workspaces" / e["id"]
        if folder is not None and (folder / "partial.json").exists():
            try:
                content = json.loads((folder / "partial.json").read_text())["content"]
            except (ValueError, OSError):
                content = ""
            if content == want:
                return
        time.sleep(0.02)
    raise AssertionError("partial never reached the expected text")


def test_sigkill_mid_stream_then_restart_recovers_partial(home, fake_server):
    g = f"k{uuid.uuid4().hex[:8]}"
    model = f"m?chunks=200&pause_after=60&gate={g}&seed=4"
    proc = spawn(home, "send", "-w", "crashy", "-m", f"fake:{model}", "tell me")
    try:
        fake_server.wait_reached(g, timeout=20)
        idx = request_index(fake_server, model)
        sent = fake_server.sent_text(idx)
        wait_for_partial(home, "crashy", sent)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        fake_server.release(g)
    data = history(home, "crashy")
    user, recovered = data["messages"]
    assert recovered["status"] == "interrupted" and recovered.get("recovered") is True
    assert recovered["content"] == sent  # paused at the gate: nothing was lost at all
    # Recovery happens once: a second open finds the same two messages.
    assert [m["id"] for m in history(home, "crashy")["messages"]] == [user["id"], recovered["id"]]
    crash = [json.loads(l) for l in muxtui(home, "logs", "--errors", "--json").stdout.splitlines()]
    assert any(c["close_kind"] == "crash_recovered" for c in crash)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signals_commit_partial_as_interrupted(home, fake_server, sig):
    g = f"s{uuid.uuid4().hex[:8]}"
    model = f"m?chunks=50&pause_after=10&gate={g}"
    proc = spawn(home, "send", "-w", f"sig{sig}", "-m", f"fake:{model}", "x")
    try:
        fake_server.wait_reached(g, timeout=20)
        sent = fake_server.sent_text(request_index(fake_server, model))
        wait_for_partial(home, f"sig{sig}", sent)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        fake_server.release(g)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    last = history(home, f"sig{sig}")["messages"][-1]
    assert last["status"] == "interrupted" and last["content"] == sent and not last.get("recovered")


def test_engine_never_imports_textual():
    code = ("import sys, muxtui.engine.manager, muxtui.engine.providers, muxtui.cli, muxtui.config;"
            "bad = [m for m in sys.modules if m.split('.')[0] == 'textual' or m.startswith('muxtui.ui')];"
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_second_process_refuses_a_workspace_that_is_streaming(home, fake_server):
    # The first stream waits at a gate while two other processes run: not a read timeout.
    home.config_file.write_text(home.config_file.read_text().replace("read_timeout = 3", "read_timeout = 60"))
    g = f"p{uuid.uuid4().hex[:8]}"
    model = f"m?chunks=30&pause_after=5&gate={g}"
    first = spawn(home, "send", "-w", "shared", "-m", f"fake:{model}", "one")
    try:
        fake_server.wait_reached(g, timeout=20)
        second = muxtui(home, "send", "-w", "shared", "two")
        assert second.returncode == 1
        assert "another muxtui process" in second.stderr and str(first.pid) in second.stderr
        # Other workspaces are unaffected.
        assert muxtui(home, "send", "-w", "elsewhere", "-m", "fake:m?chunks=3", "three").returncode == 0
    finally:
        fake_server.release(g)
    out, err = first.communicate(timeout=30)
    assert first.returncode == 0, err
    msgs = history(home, "shared")["messages"]
    assert [m["content"] for m in msgs if m["role"] == "user"] == ["one"]
    assert msgs[-1]["status"] == "complete"


def test_send_into_a_closed_pipe_stops_quietly_and_saves(home, fake_server):
    env = muxtui_env(home)
    cmd = (f"{sys.executable} -m muxtui send -w piped -m 'fake:m?chunks=3000&delay_ms=1' hello"
           " | head -c 20 > /dev/null; echo \"rc=${PIPESTATUS[0]}\" >&2")
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr[-2000:]
    assert "rc=141" in out.stderr
    last = history(home, "piped")["messages"][-1]
    assert last["status"] == "interrupted" and last["content"]
