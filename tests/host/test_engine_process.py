"""The engine host as users meet it: a real detached engine process, real unix sockets, the fake
provider server; no mocks. Each test starts its own engine in its own temp MUXTUI_HOME."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import stat
import subprocess
import sys
import uuid

import pytest

from muxtui.host import protocol as p
from muxtui.host.paths import HostPaths
from muxtui.host.remote import EngineGone, EngineVersionMismatch, RemoteEngine
from muxtui.host.spawn import EngineStartError
from muxtui.host.server import registration_of
from tests.helpers.cli import muxtui, muxtui_env
from tests.helpers.home import disk_history, temp_home
from tests.helpers.processes import alive, wait_exit
from tests.host.conftest import LinkLog, Mirror, set_engine_config, wait_file

pytestmark = pytest.mark.slow

MODEL = "fake:fake-model?chunks=40&delay_ms=2"


async def test_first_client_starts_a_detached_engine_and_the_next_one_reuses_it(host_home, engines):
    a = await engines()
    assert a.spawned_pid == a.engine_info["pid"]
    pid = a.engine_info["pid"]
    # Detached: a session of its own, not our child, stdio in the engine log.
    assert os.getsid(pid) == pid
    assert not _is_child(pid)
    host = HostPaths.of(host_home)
    assert "listening on" in host.log_file.read_text()
    assert host.pid_file.read_text().strip() == str(pid)
    assert registration_of(host_home)["pid"] == pid
    # Permissions: the socket 0600 in a 0700 folder.
    assert stat.S_IMODE(os.stat(host.socket).st_mode) == 0o600
    assert stat.S_ISSOCK(os.stat(host.socket).st_mode)
    assert stat.S_IMODE(os.stat(host.run_dir).st_mode) == 0o700
    b = await engines()
    assert b.spawned_pid is None and b.engine_info["pid"] == pid
    status = await b.status()
    assert status["clients"] == 2 and status["protocol"] == p.PROTOCOL_VERSION


def _is_child(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) is not None
    except ChildProcessError:
        return False


async def test_two_clients_see_each_others_sends_live(host_home, engines):
    a, b = await engines(client_name="a"), await engines(client_name="b")
    seen_a, seen_b = Mirror(), Mirror()
    await a.subscribe(seen_a)
    await b.subscribe(seen_b)
    info = await a.create_workspace(name="shared", model=MODEL)
    ws = info.id
    assert await a.send(workspace=ws, text="hello from a") == "started"
    await seen_b.wait(lambda m: len(m.closed) == 1)
    assert await b.send(workspace=ws, text="hello from b") == "started"
    await seen_a.wait(lambda m: len(m.closed) == 2)
    await seen_b.wait(lambda m: len(m.closed) == 2)
    disk = disk_history(host_home, ws)
    assert [m["role"] for m in disk] == ["user", "assistant", "user", "assistant"]
    for mirror in (seen_a, seen_b):
        assert [m["content"] for m in mirror.messages[ws]] == [m["content"] for m in disk]
        for rid, live in mirror.live.items():  # the deltas add up to what was saved
            assert live["text"] == mirror.closed[rid]["message"]["content"]
        assert mirror.seqs == sorted(set(mirror.seqs))
    assert a.duplicates == b.duplicates == 0


@pytest.fixture
def cpu_hog(request):
    """`n` busy processes for the test's length: a slow machine, where frames hold more deltas."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(request.param)]
    yield request.param
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("cpu_hog", [0, 2], indirect=True, ids=["idle-machine", "cpu-hog"])
async def test_reconnects_at_random_points_while_8_workspaces_stream_miss_nothing(host_home, engines, cpu_hog):
    """Kill the client's socket at random moments while 8 workspaces stream; after each
    reconnect the client resumes from its last seq. The mirror built from the events must equal
    the history on disk, every reply's deltas must add up to its saved text, no event twice.
    Also with two CPU hogs (a slow machine: bigger batches, later flushes, same result)."""
    remote = await engines()
    links = LinkLog()
    remote.on_link = links
    mirror = Mirror()
    await remote.subscribe(mirror)
    model = "fake:fake-model?chunks=300&delay_ms=3"
    ids = [(await remote.create_workspace(name=f"w{i}", model=model)).id for i in range(8)]
    for ws in ids:
        await remote.send(workspace=ws, text=f"go {ws}")
    rng = random.Random(12)
    kills = 0
    while len(mirror.closed) < 8 and kills < 12:
        await asyncio.sleep(rng.uniform(0.01, 0.15))  # a random moment, not a synchronisation
        remote.abort_link()
        kills += 1
        await links.wait_for("restored", kills)
    await mirror.wait(lambda m: len(m.closed) == 8, timeout=60)
    assert kills >= 3
    assert links.count("lost") == kills and links.count("restored") == kills
    assert mirror.snapshots == 1  # the first subscribe only: every reconnect was a replay
    assert [r["mode"] for r in remote.resubscribed] == ["replay"] * kills
    assert sum(r["replayed"] for r in remote.resubscribed) > 0  # events did fall in the gaps
    assert remote.duplicates == 0
    assert mirror.seqs == sorted(set(mirror.seqs))
    assert mirror.created == ids
    for ws in ids:
        disk = disk_history(host_home, ws)
        assert [m["role"] for m in disk] == ["user", "assistant"]
        assert disk[1]["status"] == "complete"
        assert mirror.messages[ws] == disk
    for rid, close in mirror.closed.items():
        assert mirror.live[rid]["text"] == close["message"]["content"]


async def test_coalesced_deltas_cost_about_one_message_per_frame(host_home, engines):
    remote = await engines()
    batches = 0
    events = 0
    orig = remote._on_notification

    def count(method, params):
        nonlocal batches, events
        if method == "events":
            batches += 1
            events += len(params["events"])
        orig(method, params)

    remote._on_notification = count
    mirror = Mirror()
    await remote.subscribe(mirror)
    ws = (await remote.create_workspace(name="fast", model="fake:fake-model?chunks=3000")).id
    await remote.send(workspace=ws, text="fast")
    await mirror.wait(lambda m: len(m.closed) == 1, timeout=60)
    (rid,) = mirror.closed
    assert mirror.live[rid]["text"] == disk_history(host_home, ws)[1]["content"]
    assert events < 1500, f"{events} events in {batches} batches for 3000 chunks: deltas were not merged"


async def test_a_version_mismatch_says_so(host_home, engines, monkeypatch):
    first = await engines()
    monkeypatch.setattr(p, "PROTOCOL_VERSION", p.PROTOCOL_VERSION + 1)
    other = RemoteEngine(host_home)
    with pytest.raises(EngineVersionMismatch) as caught:
        await other.start()
    text = str(caught.value)
    assert f"speaks protocol {p.PROTOCOL_VERSION - 1}" in text
    assert f"this client speaks protocol {p.PROTOCOL_VERSION}" in text
    assert "muxtui engine stop" in text
    assert caught.value.engine_idle and caught.value.data["pid"] == first.engine_info["pid"]
    # status and stop still answer a client of another version.
    plain = await RemoteEngine(host_home, spawn=False, reconnect=False).start(hello=False)
    assert (await plain.status())["pid"] == first.engine_info["pid"]
    await plain.close()


def _raw(host_home) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(HostPaths.of(host_home).socket))
    s.settimeout(20)
    return s


def _replies(s: socket.socket, count: int) -> list[dict]:
    buf = b""
    while buf.count(b"\n") < count:
        chunk = s.recv(65536)
        assert chunk, f"engine closed the link; got {buf!r}"
        buf += chunk
    return [json.loads(line) for line in buf.split(b"\n")[:count]]


async def test_bad_input_gets_clear_errors_and_loses_nothing(host_home, engines):
    remote = await engines()
    mirror = Mirror()
    await remote.subscribe(mirror)
    ws = (await remote.create_workspace(name="busy", model="fake:fake-model?chunks=200&delay_ms=3")).id
    await remote.send(workspace=ws, text="keep going")

    def abuse() -> list[dict]:
        s = _raw(host_home)
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"engine.status"}\n')  # before hello: allowed
        s.sendall(b'{"jsonrpc":"2.0","id":2,"method":"create_workspace","params":{"name":"x"}}\n')
        s.sendall(b'{not json\n')
        s.sendall(b'[1,2]\n')
        hello = {"jsonrpc": "2.0", "id": 3, "method": "hello", "params": {"protocol": p.PROTOCOL_VERSION}}
        s.sendall(json.dumps(hello).encode() + b"\n")
        s.sendall(b'{"jsonrpc":"2.0","id":4,"method":"no_such_thing","params":{}}\n')
        s.sendall(b'{"jsonrpc":"2.0","id":5,"method":"send","params":{"workspace":"nope","text":"x"}}\n')
        s.sendall(b'{"jsonrpc":"2.0","id":6,"method":"send","params":{"bogus":1}}\n')
        s.sendall(b'{"jsonrpc":"2.0","id":7,"method":"send","params":[1]}\n')
        replies = _replies(s, 9)
        s.close()
        # A client that dies mid-message: half a request, then gone.
        s2 = _raw(host_home)
        s2.sendall(b'{"jsonrpc":"2.0","id":1,"method":"hello","params":{"proto')
        s2.close()
        return replies

    replies = await asyncio.to_thread(abuse)
    by_id = {r.get("id"): r for r in replies if r.get("id") is not None}
    nulls = [r for r in replies if r.get("id") is None]
    assert by_id[1]["result"]["pid"] == remote.engine_info["pid"]
    assert by_id[2]["error"]["code"] == p.NOT_READY and "hello" in by_id[2]["error"]["message"]
    assert sorted(r["error"]["code"] for r in nulls) == sorted([p.INVALID_REQUEST, p.PARSE_ERROR])
    assert by_id[3]["result"]["protocol"] == p.PROTOCOL_VERSION
    assert by_id[4]["error"]["code"] == p.METHOD_NOT_FOUND and "no_such_thing" in by_id[4]["error"]["message"]
    assert by_id[5]["error"]["code"] == p.COMMAND_FAILED and "nope" in by_id[5]["error"]["message"]
    assert by_id[6]["error"]["code"] == p.INVALID_PARAMS
    assert by_id[7]["error"]["code"] == p.INVALID_PARAMS
    # The stream that ran meanwhile is whole, and the engine still answers.
    await mirror.wait(lambda m: len(m.closed) == 1, timeout=60)
    (rid,) = mirror.closed
    assert mirror.live[rid]["text"] == disk_history(host_home, ws)[1]["content"]
    assert (await remote.status())["pid"] == remote.engine_info["pid"]


async def test_an_oversized_line_is_refused_and_the_next_one_is_read(host_home, engines):
    remote = await engines()

    def send_huge() -> list[dict]:
        s = _raw(host_home)
        hello = {"jsonrpc": "2.0", "id": 1, "method": "hello", "params": {"protocol": p.PROTOCOL_VERSION}}
        s.sendall(json.dumps(hello).encode() + b"\n")
        block = b"x" * (1 << 20)
        s.sendall(b'{"jsonrpc":"2.0","id":2,"method":"send","params":{"text":"')
        for _ in range(p.MAX_LINE // len(block) + 2):
            s.sendall(block)
        s.sendall(b'"}}\n{"jsonrpc":"2.0","id":3,"method":"engine.status"}\n')
        replies = _replies(s, 3)
        s.close()
        return replies

    replies = await asyncio.to_thread(send_huge)
    assert replies[0]["id"] == 1
    assert replies[1]["id"] is None and replies[1]["error"]["code"] == p.LINE_TOO_LONG
    assert "limit" in replies[1]["error"]["message"]
    assert replies[2]["id"] == 3 and replies[2]["result"]["pid"] == remote.engine_info["pid"]


async def test_kill_9_of_the_engine_mid_stream_the_client_starts_a_new_one_that_recovers(host_home, engines,
                                                                                         fake_server):
    gate = f"k9-{uuid.uuid4().hex[:8]}"
    remote = await engines()
    links = LinkLog()
    remote.on_link = links
    mirror = Mirror()
    await remote.subscribe(mirror)
    ws = (await remote.create_workspace(name="k9", model=f"fake:fake-model?chunks=30&pause_after=10&gate={gate}")).id
    await remote.send(workspace=ws, text="before the crash")
    await fake_server.areached(gate)
    await mirror.wait(lambda m: any(len(v["text"]) > 0 for v in m.live.values()))
    await wait_file(host_home.data_dir / "workspaces" / ws / "partial.json")
    old = remote.engine_info["pid"]
    os.kill(old, signal.SIGKILL)
    assert wait_exit(old)
    await links.wait_for("replaced")
    fake_server.release(gate)
    new = remote.engine_info["pid"]
    engines.pids.add(new)
    assert new != old and links[:2] == ["lost", "replaced"]
    assert mirror.snapshots == 2  # the new engine's numbering starts afresh: a snapshot, not a replay
    disk = disk_history(host_home, ws)
    assert [m["role"] for m in disk] == ["user", "assistant"] and disk[1]["status"] == "interrupted"
    assert disk[1]["content"]  # the text streamed before the kill was kept
    assert mirror.messages[ws] == disk


def hold_without_timing_out(paths) -> None:
    """A held stream is silent on purpose: the engine profile's 3 s read timeout would end it
    (and its retry restart it) while a loaded machine runs the test's CLI commands, each of
    which can take a second there. Call before the engine starts (it reads config once)."""
    text = paths.config_file.read_text()
    assert "read_timeout = 3\n" in text
    paths.config_file.write_text(text.replace("read_timeout = 3\n", "read_timeout = 120\n"))


async def a_held_stream(engines, fake_server, name: str, text: str):
    """A new engine with one reply streaming in workspace `name`, held at a fake-server gate after
    5 chunks: (the client, the engine's pid, the workspace id, the gate). The caller has made
    the config's read timeout long (hold_without_timing_out) before any engine started."""
    gate = f"{name}-{uuid.uuid4().hex[:8]}"
    remote = await engines()
    pid = remote.engine_info["pid"]
    ws = (await remote.create_workspace(name=name, model=f"fake:fake-model?chunks=30&pause_after=5&gate={gate}")).id
    await remote.send(workspace=ws, text=text)
    await fake_server.areached(gate)
    return remote, pid, ws, gate


async def test_engine_status_and_stop_from_the_command_line(host_home, engines, fake_server):
    hold_without_timing_out(host_home)
    out = await asyncio.to_thread(muxtui, None, "engine", "status")
    assert out.returncode == 3 and "no engine running" in out.stdout
    out = await asyncio.to_thread(muxtui, None, "engine")
    assert out.returncode == 0 and "engine started: pid" in out.stdout, out.stderr
    remote, pid, ws, gate = await a_held_stream(engines, fake_server, "stopme", "this one is stopped")
    out = await asyncio.to_thread(muxtui, None, "engine", "status")
    assert out.returncode == 0 and f"pid {pid}" in out.stdout and "streams  1" in out.stdout, out.stdout
    out = await asyncio.to_thread(muxtui, None, "engine", "status", "--json")
    assert json.loads(out.stdout)["streams"] == [ws]
    out = await asyncio.to_thread(muxtui, None, "engine", "stop")
    fake_server.release(gate)
    assert out.returncode == 0 and "1 reply in flight saved as interrupted" in out.stdout, out
    assert wait_exit(pid)
    disk = disk_history(host_home, ws)
    assert disk[-1]["role"] == "assistant" and disk[-1]["status"] == "interrupted" and disk[-1]["content"]
    host = HostPaths.of(host_home)
    assert not host.socket.exists() and registration_of(host_home) is None
    out = await asyncio.to_thread(muxtui, None, "engine", "stop")
    assert out.returncode == 0 and "no engine running" in out.stdout


async def test_the_engine_exits_when_idle_but_not_while_a_stream_runs(host_home, engines, fake_server):
    set_engine_config(host_home, "idle_exit_minutes = 0.01")  # 0.6 s
    hold_without_timing_out(host_home)
    remote, pid, ws, gate = await a_held_stream(engines, fake_server, "idle", "long one")
    await remote.close()
    # No client, but a stream: it must outlive several idle periods (a bounded negative check).
    assert not wait_exit(pid, timeout=2.5)
    fake_server.release(gate)
    assert wait_exit(pid, timeout=20), "the engine did not exit once idle"
    disk = disk_history(host_home, ws)
    assert disk[-1]["status"] == "complete"  # the stream finished and was saved with no client
    assert "stopping (idle)" in HostPaths.of(host_home).log_file.read_text()


async def test_a_socket_path_too_long_for_sun_path_moves_to_tmp(tmp_path, fake_server, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    paths = temp_home(deep, fake_server, monkeypatch)
    host = HostPaths.of(paths)
    assert str(host.socket).startswith(f"/tmp/muxtui-{os.getuid()}/")
    remote = await RemoteEngine(paths).start()
    pid = remote.engine_info["pid"]
    try:
        assert remote.engine_info["socket"] == str(host.socket)
        assert stat.S_IMODE(os.stat(host.socket.parent).st_mode) == 0o700
        await remote.stop_engine()
    finally:
        await remote.close()
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert wait_exit(pid)


async def test_clients_starting_at_once_start_one_engine(host_home, engines):
    clients = await asyncio.gather(*(engines(client_name=f"c{i}") for i in range(4)))
    assert len({c.engine_info["pid"] for c in clients}) == 1
    assert sum(1 for c in clients if c.spawned_pid) == 1


async def test_an_engine_that_cannot_start_says_why(host_home):
    host_home.config_file.write_text("default_model = 42\n")
    remote = RemoteEngine(host_home)
    with pytest.raises(EngineStartError) as caught:
        await remote.start()
    text = str(caught.value)
    assert "cannot start the muxtui engine" in text and "invalid config" in text and "default_model" in text
    assert "--no-engine" in text


async def test_a_stopped_engine_tells_its_clients_and_they_do_not_start_another(host_home, engines):
    watcher = await engines(client_name="watcher")
    links = LinkLog()
    watcher.on_link = links
    await watcher.subscribe(Mirror())
    pid = watcher.engine_info["pid"]
    out = await asyncio.to_thread(muxtui, None, "engine", "stop")
    assert out.returncode == 0, out
    await links.wait_for("closed:stop")
    with pytest.raises(EngineGone, match="stopped"):
        await watcher.wait_connected(timeout=10)
    assert wait_exit(pid) and registration_of(host_home) is None  # and no new engine came up
    await watcher.reconnect_now()  # unless asked
    assert watcher.engine_info["pid"] != pid and links[-1] == "replaced"
    engines.pids.add(watcher.engine_info["pid"])


async def test_a_request_whose_client_vanished_still_runs(host_home, engines):
    remote = await engines()
    mirror = Mirror()
    await remote.subscribe(mirror)
    ws = (await remote.create_workspace(name="orphan", model=MODEL)).id

    def send_and_vanish() -> None:
        s = _raw(host_home)
        hello = {"jsonrpc": "2.0", "id": 1, "method": "hello", "params": {"protocol": p.PROTOCOL_VERSION}}
        send = {"jsonrpc": "2.0", "id": 2, "method": "send", "params": {"workspace": ws, "text": "fire and forget"}}
        s.sendall(json.dumps(hello).encode() + b"\n" + json.dumps(send).encode() + b"\n")
        s.close()  # gone before any answer

    await asyncio.to_thread(send_and_vanish)
    await mirror.wait(lambda m: len(m.closed) == 1, timeout=30)
    disk = disk_history(host_home, ws)
    assert [m["content"] for m in disk if m["role"] == "user"] == ["fire and forget"]
    assert disk[-1]["status"] == "complete"


@pytest.fixture
def fake_ssh(tmp_path):
    """An `ssh` that runs the remote command here (`fake-ssh [options] HOST CMD...`)."""
    script = tmp_path / "fake-ssh"
    script.write_text(
        "#!/bin/sh\n"
        "while [ $# -gt 0 ]; do case \"$1\" in -o) shift 2;; -*) shift;; *) break;; esac; done\n"
        "shift\n"  # the host
        f"exec {sys.executable} -m \"$@\"\n"
    )
    script.chmod(0o755)
    return str(script)


async def test_an_engine_over_ssh_stdio_streams_replays_and_meets_local_clients(host_home, engines, fake_ssh):
    from muxtui.host.remote import ssh_command

    command = ssh_command("me@box", ssh=fake_ssh)
    assert command[-3:] == ["muxtui", "engine", "--stdio"]
    over_ssh = RemoteEngine(None, via=command)
    await over_ssh.start()
    try:
        local = await engines()  # the same engine, reached on its socket
        assert over_ssh.engine_info["engine_id"] == local.engine_info["engine_id"]
        links = LinkLog()
        over_ssh.on_link = links
        far, near = Mirror(), Mirror()
        await over_ssh.subscribe(far)
        await local.subscribe(near)
        ws = (await over_ssh.create_workspace(name="remote", model="fake:fake-model?chunks=300&delay_ms=3")).id
        await over_ssh.send(workspace=ws, text="over ssh")
        await far.wait(lambda m: any(v["text"] for v in m.live.values()))
        over_ssh.abort_link()  # the ssh link drops mid-stream
        await links.wait_for("restored")
        await far.wait(lambda m: len(m.closed) == 1, timeout=60)
        await near.wait(lambda m: len(m.closed) == 1, timeout=60)
        assert over_ssh.resubscribed[-1]["mode"] == "replay"
        disk = disk_history(host_home, ws)
        assert far.messages[ws] == near.messages[ws] == disk and disk[-1]["status"] == "complete"
        (rid,) = far.closed
        assert far.live[rid]["text"] == disk[-1]["content"] and over_ssh.duplicates == 0
    finally:
        await over_ssh.close()


async def test_an_ssh_command_that_fails_says_why(host_home, tmp_path):
    from muxtui.host.remote import ssh_command

    broken = tmp_path / "broken-ssh"
    broken.write_text("#!/bin/sh\necho 'ssh: Could not resolve hostname nowhere' >&2\nexit 255\n")
    broken.chmod(0o755)
    remote = RemoteEngine(None, via=ssh_command("nowhere", ssh=str(broken)), reconnect=False)
    with pytest.raises(EngineGone, match="Could not resolve hostname nowhere"):
        await remote.start()


async def test_status_and_stop_give_up_on_an_engine_that_does_not_answer(host_home):
    """Something listens on the engine's socket and never answers (a wedged engine)."""
    host = HostPaths.of(host_home)
    host.ensure()
    wedged = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    wedged.bind(str(host.socket))
    wedged.listen(4)
    host.registration.write_text(json.dumps({"pid": 424242}))
    try:
        for action in ("status", "stop"):
            out = await asyncio.to_thread(muxtui, None, "engine", action, "--timeout", "0.5")
            assert out.returncode == 1, out
            assert "does not answer within 0.5 s" in out.stderr and "kill 424242" in out.stderr
    finally:
        wedged.close()


# Run `muxtui ARGS` in this interpreter, then say which modules it loaded (on stderr, last line).
_LOADED = ("import runpy, sys, atexit; "
           "atexit.register(lambda: print('LOADED', *sorted(sys.modules), file=sys.stderr)); "
           "sys.argv = ['muxtui', *sys.argv[1:]]; runpy.run_module('muxtui', run_name='__main__')")


async def test_a_cli_command_the_engine_serves_loads_no_engine_code(host_home, engines):
    """Start-up time: with an engine running, `engine status`, `workspaces` and `send` are thin
    clients: no stream manager, no provider classes, no httpx, no Textual in the CLI's process."""
    await engines()
    heavy = ("muxtui.client.local", "muxtui.engine.manager", "muxtui.engine.providers.openai", "httpx",
             "textual", "muxtui.ui", "sqlite3")
    for args in (["engine", "status"], ["workspaces"], ["send", "-w", "thin", "-m", MODEL, "hi"]):
        out = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", _LOADED, *args], capture_output=True,
                                      text=True, timeout=60, env=muxtui_env(host_home))
        assert out.returncode == 0, out.stderr
        loaded = out.stderr.strip().splitlines()[-1].split()[1:]
        assert not [m for m in loaded if m.startswith(heavy)], (args, [m for m in loaded if m.startswith(heavy)])


async def test_cli_commands_are_clients_of_a_running_engine(host_home, engines):
    """With an engine running, `muxtui send` goes through it: another client sees the send and
    the reply stream live, and `workspaces`/`history` read what the engine holds. Without one
    (or with --no-engine) a command runs the engine in its own process and starts none."""
    watcher = await engines(client_name="watcher")
    seen: list = []
    await watcher.subscribe(seen.append, since_seq=watcher.engine_info["last_seq"])
    done = await asyncio.to_thread(muxtui, None, "send", "-w", "from-cli", "-m", MODEL, "hello engine")
    assert done.returncode == 0, done.stderr
    kinds = [getattr(e, "type", "") for e in seen]
    assert "message.added" in kinds and "stream.delta" in kinds and "stream.complete" in kinds
    closed = next(e for e in seen if getattr(e, "type", "") == "stream.complete")
    assert done.stdout.strip() == closed.message["content"].strip()
    listing = await asyncio.to_thread(muxtui, None, "workspaces")
    assert "from-cli" in listing.stdout
    status = await watcher.status()
    assert status["clients"] >= 1
