"""The app as a client of the engine host (a real engine process over its real socket).

The same flow runs embedded and attached (parametrised), so the two transports never drift; the
rest is what only an engine host does: another client's send streams on this screen, quitting
leaves a reply running to completion, and a `kill -9` of the engine is survived with the
composer untouched.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import time

import pytest

from muxtui.engine.storage import Storage
from muxtui.host.attached import AttachedEngine
from muxtui.host.server import registration_of
from muxtui.paths import Paths
from muxtui.ui.app import MuxApp
from muxtui.ui.composer import Composer
from muxtui.ui.textual_private import notifications
from tests.helpers import app as app_helpers
from tests.helpers.app import make_app
from tests.helpers.cli import muxtui_env
from tests.helpers.home import disk_history
from tests.helpers.processes import alive, wait_exit
from tests.helpers.processes import stop_engine as stop_engine_of
from tests.helpers.terminal import app_in_pty, read_for, read_until
from tests.host.test_engine_process import fake_ssh  # noqa: F401 - a fixture

SLOW = "fake:plain?chunks=60&delay_ms=40&seed=3"
# The changes come from the engine process: wait a little each turn instead of spinning.
until = functools.partial(app_helpers.until, every=0.05)


async def reply_to(app: MuxApp, pilot, model: str, text: str) -> dict:
    """Send `text` from the composer of the workspace on screen, with `model`; its reply once
    it is in the app's view (and the screen)."""
    await app.engine.set_model(app.current_id, model)
    app.query_one(Composer).load_text(text)
    await pilot.press("enter")
    await until(pilot, lambda: any(m.get("role") == "assistant" for m in (app.view.messages if app.view else [])),
                "the reply in the view")
    await app.drain()
    return [m for m in app.view.messages if m["role"] == "assistant"][-1]


def attached_app(paths: Paths, attached: bool) -> MuxApp:
    """The app on the real clock, embedded or a client of the engine host of `paths`."""
    return make_app(paths, clock=time.time, engine=AttachedEngine(paths) if attached else None)


@pytest.fixture
def stop_engine(host_home):
    yield
    stop_engine_of(host_home)


@pytest.mark.parametrize("attached", [False, True], ids=["embedded", "engine-host"])
async def test_a_reply_streams_and_is_saved_either_way(host_home, stop_engine, attached):
    app = attached_app(host_home, attached)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.started.wait()
        ws_id = app.current_id
        reply = await reply_to(app, pilot, "fake:plain?chunks=20&seed=5", "hello there")
        assert reply["status"] == "complete" and reply["content"]
        assert app.chat.messages()[-1].source_text() == reply["content"]
    assert disk_history(host_home, ws_id)[-1]["content"] == reply["content"]
    assert (registration_of(host_home) is not None) == attached  # only the attached app started an engine


async def test_another_clients_send_streams_live_here(host_home, stop_engine, engines):
    app = attached_app(host_home, attached=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.started.wait()
        ws_id = app.current_id
        other = await engines(spawn=False)  # a second client (another terminal) of the same engine
        await other.set_model(workspace=ws_id, model=SLOW)
        assert await other.send(workspace=ws_id, text="from the other terminal") == "started"
        await until(pilot, lambda: app.tracker.get(ws_id).streaming, "the badge of the other client's stream")
        await until(pilot, lambda: app.chat.live is not None and app.chat.live.source_text(), "live text here")
        await until(pilot, lambda: not app.tracker.get(ws_id).streaming, "the end of the reply", timeout=60)
        await app.drain()
        texts = [m.get("content") for m in app.view.messages]
        assert "from the other terminal" in texts
        assert app.view.messages[-1]["content"] == disk_history(host_home, ws_id)[-1]["content"]


async def test_quit_leaves_the_reply_running_and_it_completes(host_home, stop_engine, engines):
    app = attached_app(host_home, attached=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.started.wait()
        ws_id = app.current_id
        await app.engine.set_model(ws_id, SLOW)
        app.query_one(Composer).load_text("a long one")
        await pilot.press("enter")
        await until(pilot, lambda: app.tracker.get(ws_id).streaming, "the stream")
        await pilot.press("ctrl+q")
        await until(pilot, lambda: type(app.screen).__name__ == "QuitScreen", "the quit question")
        await pilot.press("enter")  # the default: leave it running
    watcher = await engines(spawn=False)
    await watcher.wait_idle(workspace=ws_id)
    last = disk_history(host_home, ws_id)[-1]
    assert last["role"] == "assistant" and last["status"] == "complete"


async def test_kill_9_of_the_engine_is_survived_and_the_draft_kept(host_home, stop_engine):
    app = attached_app(host_home, attached=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.started.wait()
        ws_id = app.current_id
        await app.engine.set_model(ws_id, "fake:plain?chunks=400&delay_ms=40")
        composer = app.query_one(Composer)
        composer.load_text("stream something long")
        await pilot.press("enter")
        await until(pilot, lambda: app.chat.live is not None and len(app.chat.live.source_text()) > 20, "some text")
        composer.load_text("typed while the engine dies")
        pid = registration_of(host_home)["pid"]
        os.kill(pid, signal.SIGKILL)
        assert await asyncio.to_thread(wait_exit, pid)
        await until(pilot, lambda: any(n.message.startswith("the muxtui engine had stopped")
                                       for n in notifications(app)), "the banner")
        await until(pilot, lambda: app.view is not None and app.view.messages
                    and app.view.messages[-1].get("status") == "interrupted", "the recovered reply", timeout=60)
        assert composer.text == "typed while the engine dies"
        assert app.view.messages[-1].get("recovered") is True
        new = registration_of(host_home)["pid"]
        assert new != pid and alive(new)


def test_terminal_gone_mid_stream_the_replies_finish_and_show_on_reattach(host_home, stop_engine):
    """The issue's scenario, with the real `muxtui` command on a real pty: two streams, the
    terminal dies (pty closed, SIGHUP), the app leaves; the engine finishes both replies and a
    new `muxtui` shows them complete."""
    env = muxtui_env(host_home, TERM="xterm-256color")
    cfg = host_home.config_file
    cfg.write_text(re.sub(r'(?m)^default_model = .*$', 'default_model = "fake:plain?chunks=80&delay_ms=30&seed=7"',
                          cfg.read_text()))

    def app_started():
        pid, fd = app_in_pty(env)
        out = bytearray()
        assert read_until(fd, out, b"enter send", 30), bytes(out[-3000:]).decode("utf-8", "replace").replace("\r", "")[-1500:]
        return pid, fd, out

    pid, fd, out = app_started()
    for keys in (b"first\r", b"\x0e", b"second\r"):  # a reply, a new workspace (ctrl+n), a reply
        os.write(fd, keys)
        read_for(fd, out, 0.5)
    os.close(fd)  # the terminal goes away...
    os.kill(pid, signal.SIGHUP)  # ...and SIGHUP arrives
    assert wait_exit(pid, 15), "the app did not leave after SIGHUP"
    os.waitpid(pid, 0)
    reg = registration_of(host_home)
    assert reg is not None and alive(reg["pid"]), "the engine went with the terminal"
    # The engine finishes both replies with nobody attached; `muxtui history` (another client)
    # waits for nothing: poll the files, bounded.
    storage = Storage(host_home.data_dir)
    deadline = time.monotonic() + 60
    while True:
        replies = [m for info in storage.list_workspaces() for m in storage.store(info.id).load_history().messages
                   if m["role"] == "assistant"]
        if len(replies) == 2 and all(m["status"] == "complete" for m in replies) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [m["status"] for m in replies] == ["complete", "complete"], replies
    # Reattach: a new app shows the finished reply of the workspace it opens.
    pid, fd, out = app_started()
    try:
        assert read_until(fd, out, b"second", 20)
    finally:
        os.kill(pid, signal.SIGTERM)
        os.close(fd)
        wait_exit(pid, 15)
        os.waitpid(pid, 0)


async def test_the_app_on_a_remote_engine_over_ssh(host_home, stop_engine, fake_ssh, tmp_path):
    """`muxtui --remote me@box`: the app runs here with its own folders (drafts, ui.json), the
    engine over there behind `ssh me@box muxtui engine --stdio` (a stand-in ssh that runs it
    here, on host_home's engine); a reply streams and is saved there."""
    from muxtui.host.remote import RemoteEngine, ssh_command

    local = Paths.under(tmp_path / "laptop")  # the client's own folders: no data of its own
    local.ensure()
    engine = AttachedEngine(local, remote=RemoteEngine(None, via=ssh_command("me@box", ssh=fake_ssh)))
    app = make_app(local, clock=time.time, engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.started.wait()
        ws_id = app.current_id
        reply = await reply_to(app, pilot, "fake:plain?chunks=20&seed=9", "over the link")
    assert disk_history(host_home, ws_id)[-1]["content"] == reply["content"]  # on the far side's disk
    assert not (local.data_dir / "workspaces").exists() or not any((local.data_dir / "workspaces").iterdir())
