"""`muxtui send` in a real subprocess: surrogates in the stream and a full disk (issue 10, part 2).

Before the fix a surrogate made `send` hang with `UnicodeEncodeError` tracebacks and save nothing;
on a full disk it printed the whole reply, left a torn line in chat.jsonl and exited 0.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers.cli import history, muxtui, spawn
from tests.helpers.home import temp_home
from tests.helpers.terminal import read_until

from .test_cli import request_index
from .test_dataloss import SURROGATE_CASES, fill, jsonl_ok, mount_tmpfs, umount


@pytest.mark.parametrize("provider", ["fake", "fakeanth"])
@pytest.mark.parametrize("case", sorted(SURROGATE_CASES))
def test_send_with_surrogates_completes(home, fake_server, provider, case):
    model = f"{provider}:m?surrogate={case}&delay_ms=5"
    want = SURROGATE_CASES[case]
    for text in ("first", "second"):  # the next message works too
        out = muxtui(home, "send", "-w", "s", "-m", model, text)
        assert "Traceback" not in out.stderr and "UnicodeEncodeError" not in out.stderr, out.stderr[-2000:]
        assert out.returncode == 0, out.stderr
        assert out.stdout == want + "\n"
    msgs = history(home, "s")["messages"]
    assert [(m["role"], m["content"]) for m in msgs] == [("user", "first"), ("assistant", want),
                                                         ("user", "second"), ("assistant", want)]
    assert all(m["status"] == "complete" for m in msgs if m["role"] == "assistant")


def test_send_on_a_full_disk_exits_nonzero_and_keeps_what_it_can(home, fake_server):
    # Every history append after the user message fails (the injected write really writes half
    # of its line first, as a filling disk does); the disk stays full for the whole command.
    env = {"MUXTUI_TEST_WRITE_FAULTS": "append@1", "MUXTUI_SAVE_WAIT": "0.5"}
    out = muxtui(home, "send", "-w", "full", "-m", "fake:m?chunks=60&seed=4", "hello", env_extra=env)
    sent = fake_server.sent_text(request_index(fake_server, "m?chunks=60&seed=4"))
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert "write_failed" in out.stderr and "No space left on device" in out.stderr, out.stderr
    assert "is not in the history" in out.stderr and "partial.json" in out.stderr
    assert out.stdout.rstrip("\n") == sent  # the user saw the whole reply
    records = jsonl_ok(chat_file_at(home, "full"))  # no torn line (read before any muxtui recovers it)
    assert [r["role"] for r in records] == ["user"]
    audit = [json.loads(line) for line in muxtui(home, "logs", "--audit", "--json").stdout.splitlines()]
    assert audit[-1]["close_kind"] == "write_failed" and audit[-1]["unsaved"]
    # What it could keep (partial.json, written whole at the close) comes back on the next run.
    last = history(home, "full")["messages"][-1]
    assert last["role"] == "assistant" and last["content"] == sent and last["status"] == "interrupted"


def test_send_on_a_real_full_tmpfs_saves_once_space_returns(tmp_path, fake_server):
    where = tmp_path / "small"
    if not mount_tmpfs(where):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        paths = temp_home(where / "home", fake_server)
        assert muxtui(paths, "send", "-w", "t", "-m", "fake:m?chunks=2", "warm up").returncode == 0
        ballast = fill(where)
        with open(tmp_path / "stdout", "wb") as stdout:
            proc = spawn(paths, "send", "-w", "t", "-m", "fake:m?huge=300000", "hello",
                         env_extra={"MUXTUI_SAVE_WAIT": "60"}, stdout=stdout, text=False)
            try:
                got = bytearray()
                read_until(proc.stderr.fileno(), got, b"retrying for up to", 30, wait=0.2)
                err = got.decode("utf-8", "replace")
                assert "retrying for up to" in err, err[-2000:]
                chat = chat_file_at(paths, "t")
                assert [r["role"] for r in jsonl_ok(chat)] == ["user", "assistant", "user"]  # no torn line
                ballast.unlink()  # space returns while `send` waits
                rest = proc.communicate(timeout=60)[1].decode()
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        assert proc.returncode == 0, err + rest
        assert "saved once the disk had room again" in rest and "Traceback" not in err + rest
        assert len((tmp_path / "stdout").read_text().rstrip("\n")) == 300_000
        last = jsonl_ok(chat_file_at(paths, "t"))[-1]
        assert last["status"] == "complete" and len(last["content"]) == 300_000
    finally:
        umount(where)


def chat_file_at(paths, ws_name: str):
    for ws in (paths.data_dir / "workspaces").iterdir():
        meta = json.loads((ws / "meta.json").read_text())
        if meta["name"] == ws_name:
            return ws / "chat.jsonl"
    raise AssertionError(f"no workspace {ws_name}")
