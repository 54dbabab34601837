"""The host's parts on their own: line framing, delta coalescing, the replay ring, the peer
check, the runtime folder; and the snapshot fallback with a small ring, in-process over a real
socket."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from muxtui.host import protocol as p
from muxtui.host.paths import SUN_PATH_MAX, HostPaths, RuntimeDirError, private_dir, socket_path
from muxtui.host.remote import RemoteEngine
from muxtui.host.server import EngineServer, Hub, Item, coalesce, merge_delta, peer_allowed
from tests.helpers.home import disk_history
from tests.host.conftest import Mirror, load_config


def _reader(data: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    r.feed_eof()
    return r


async def test_line_reader_bounds_a_line_and_reads_the_next_one():
    big = b"x" * 5000
    lines = p.LineReader(_reader(b"one\n" + big + b"\ntwo\n" + big + b"three\nfour\ntorn"), limit=1000)
    assert await lines.readline() == b"one"
    with pytest.raises(p.LineTooLong):
        await lines.readline()
    assert await lines.readline() == b"two"
    with pytest.raises(p.LineTooLong):
        await lines.readline()
    assert await lines.readline() == b"four"
    assert await lines.readline() is None  # half a message at the end is no message


async def test_line_reader_resyncs_when_the_long_line_arrives_in_pieces():
    r = asyncio.StreamReader()
    lines = p.LineReader(r, limit=100)
    for _ in range(50):
        r.feed_data(b"y" * 64)
    r.feed_data(b"\nafter\n")
    r.feed_eof()
    with pytest.raises(p.LineTooLong):
        await lines.readline()
    assert await lines.readline() == b"after"


def test_parse_refuses_what_is_not_a_request():
    with pytest.raises(p.ProtocolError) as e:
        p.parse(b"{nope")
    assert e.value.code == p.PARSE_ERROR
    with pytest.raises(p.ProtocolError) as e:
        p.parse(b'{"id":1,"method":"x"}')
    assert e.value.code == p.INVALID_REQUEST and "JSON-RPC 2.0" in e.value.message
    with pytest.raises(p.ProtocolError) as e:
        p.parse(b"[]")
    assert "batch" in e.value.message
    with pytest.raises(p.ProtocolError) as e:
        p.parse(b'"\xff"')
    assert e.value.code == p.PARSE_ERROR


def _delta(seq: int, ws: str, text: str, rid: str = "r1", field: str = "text") -> Item:
    return Item({"type": "stream.delta", "workspace": ws, "seq": seq, "request_id": rid, field: text})


def _ev(seq: int, ws: str, kind: str) -> Item:
    return Item({"type": kind, "workspace": ws, "seq": seq})


def test_coalesce_merges_each_workspaces_consecutive_deltas_and_keeps_order():
    items = [
        _delta(1, "a", "He"), _delta(2, "b", "X"), _delta(3, "a", "llo"), _ev(4, "b", "queue.changed"),
        _delta(5, "b", "Y"), _delta(6, "a", " th", field="reasoning"), _delta(7, "a", "ere"),
        _delta(8, "a", "!", rid="r2"), _ev(9, "a", "stream.complete"), _delta(10, "a", "late"),
    ]
    out = coalesce(items)
    assert [(d["seq"], d["workspace"], d.get("text", d.get("reasoning"))) for d in out] == [
        (2, "b", "X"), (3, "a", "Hello"), (4, "b", None), (5, "b", "Y"), (6, "a", " th"), (7, "a", "ere"),
        (8, "a", "!"), (9, "a", None), (10, "a", "late"),
    ]
    assert items[0].data["text"] == "He"  # the ring's dicts are shared: never changed in place
    # Concatenating a workspace's merged deltas gives exactly its pieces, in order.
    assert "".join(d.get("text", "") for d in out if d["workspace"] == "a" and d.get("request_id") == "r1") == \
        "Helloerelate"


def test_coalescing_delta_events_gives_what_coalescing_their_dicts_gives():
    """The hub keeps a stream delta as its event (no dict per token) and merges runs of them from
    the events: the batches must be the very dicts the general way (to_dict, then merge) makes."""
    import random

    from muxtui.client import events as ev

    rng = random.Random(7)
    kept_as_events = 0
    for _ in range(300):
        events = []
        for seq in range(1, rng.randint(2, 25)):
            ws = rng.choice("ab")
            if rng.random() < 0.15:
                events.append(ev.QueueChanged(workspace=ws, seq=seq, items=[]))
                continue
            fields = {rng.choice(("text", "reasoning", "refusal")): rng.choice(("x", "yz", "é\n"))}
            if rng.random() < 0.1:
                fields = {"tool_calls": True}
            events.append(ev.StreamDelta(workspace=ws, seq=seq, request_id=rng.choice(("r1", "r2")), **fields))
        hub = Hub()
        for e in events:
            hub(e)
        kept_as_events += sum(i.delta is not None for i in hub.buffer)
        fast = coalesce(list(hub.buffer))
        assert fast == coalesce([Item(e.to_dict()) for e in events])
        assert [list(d) for d in fast] == [list(d) for d in coalesce([Item(e.to_dict()) for e in events])]
    assert kept_as_events > 1000


def test_merge_delta_refuses_different_runs_and_fields():
    a = _delta(1, "a", "x").data
    assert merge_delta(a, _delta(2, "a", "y", rid="other").data) is None
    assert merge_delta(a, _delta(2, "a", "y", field="reasoning").data) is None
    assert merge_delta(a, _delta(2, "a", "y").data) == {**a, "seq": 2, "text": "xy"}


def test_hub_replays_what_it_kept_and_says_when_it_cannot():
    hub = Hub(size=5)

    class E:
        def __init__(self, seq):
            self.seq = seq

        def to_dict(self):
            return {"type": "warning", "workspace": "w", "seq": self.seq}

    for seq in (1, 2, 3, 5, 6, 7, 8):  # gaps are allowed, order is not
        hub(E(seq))
    hub(E(4))  # out of order: refused, not buffered
    assert [i.seq for i in hub.buffer] == [3, 5, 6, 7, 8]
    assert [i.seq for i in hub.since(5)] == [6, 7, 8]
    assert [i.seq for i in hub.since(2)] == [3, 5, 6, 7, 8]
    assert hub.since(1) is None  # 2 fell out: a snapshot is needed
    assert hub.since(8) == [] and hub.since(99) == []


def test_peer_check_admits_the_engines_user_only():
    me = os.getuid()
    assert peer_allowed((1234, me, 100), me)
    assert not peer_allowed((1234, me + 1, 100), me)
    assert not peer_allowed((1234, 0, 0), 1000)  # not even root, unless root runs the engine
    assert not peer_allowed(None, me)


def test_socket_path_falls_back_to_a_short_hashed_path(tmp_path):
    short = tmp_path / "run" / "engine.sock"
    assert socket_path(short) == short
    long = tmp_path / ("x" * 120) / "engine.sock"
    moved = socket_path(long)
    assert len(os.fsencode(moved)) <= SUN_PATH_MAX
    assert moved.parent.name == f"muxtui-{os.getuid()}" and moved != socket_path(tmp_path / ("y" * 120) / "e.sock")
    assert moved == socket_path(long)  # stable: every client finds the same one


def test_private_dir_closes_an_open_folder_and_refuses_a_foreign_one(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    private_dir(mine)
    assert os.stat(mine).st_mode & 0o777 == 0o700
    if os.getuid() != 0:
        pytest.skip("handing a folder to another user needs root")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, 12345, 12345)
    with pytest.raises(RuntimeDirError, match="belongs to uid 12345"):
        private_dir(theirs)


def test_the_host_never_imports_textual():
    code = ("import sys, muxtui.host.server, muxtui.host.remote, muxtui.host.command; "
            "sys.exit('textual' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


async def test_a_client_too_far_behind_gets_a_snapshot_then_live_events(host_home, monkeypatch):
    """In-process engine with a ring of 10 events over a real socket: a client that missed more
    than that resubscribes with a snapshot stamped with a seq, then gets live events after it."""
    cfg = load_config(host_home)
    server = EngineServer(host_home, cfg)
    server.hub.buffer = type(server.hub.buffer)(maxlen=10)
    await server.start()
    serving = asyncio.create_task(server.run_until_stopped())
    remote = await RemoteEngine(host_home, spawn=False).start()
    try:
        mirror = Mirror()
        await remote.subscribe(mirror)
        assert mirror.snapshots == 1
        ws = (await remote.create_workspace(name="far", model="fake:fake-model?chunks=10")).id
        remote.reconnect = False
        remote.abort_link()
        # While it is away, a whole turn streams (far more than 10 events).
        await server.engine.send(workspace=ws, text="while away")
        await server.engine.wait_idle(workspace=ws)
        assert server.hub.since(remote.last_seq) is None
        remote.reconnect = True
        await remote._reconnect()
        assert remote.resubscribed[-1]["mode"] == "snapshot" and remote.resubscribed[-1]["reason"] == "too old"
        assert mirror.snapshots == 2 and mirror.messages[ws] == disk_history(host_home, ws)
        # Live again: the next turn arrives as events.
        await remote.send(workspace=ws, text="and now")
        await mirror.wait(lambda m: len(m.messages[ws]) == 4)
        assert mirror.messages[ws] == disk_history(host_home, ws)
        assert remote.duplicates == 0 and mirror.seqs == sorted(set(mirror.seqs))
    finally:
        await remote.close()
        server.stop("test")
        await serving


def test_host_paths_keep_everything_under_muxtui_home(host_home):
    host = HostPaths.of(host_home)
    root = host_home.config_dir
    assert host.run_dir == root / "run" and host.socket.parent == root / "run"
    assert host.log_file.parent == root / "logs"


def test_hub_refuses_a_malformed_event_and_keeps_going(caplog):
    hub = Hub()

    class E:
        def __init__(self, seq, ws):
            self.seq, self.ws = seq, ws

        def to_dict(self):
            # A data field named "workspace" shadowing the id: the bug that once lost events.
            return {"type": "workspace.created", "workspace": self.ws, "seq": self.seq}

    hub(E(1, {"id": "w1"}))
    hub(E(2, "w2"))
    assert [i.seq for i in hub.buffer] == [2]
    assert "cannot be sent" in caplog.text


def test_protocol_doc_names_every_method_event_and_error():
    from pathlib import Path

    from muxtui.client import events as ev
    from muxtui.host import api
    from muxtui.host.server import HOST_METHODS

    doc = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    missing = [f"method {m}" for m in sorted(set(api.COMMANDS) | HOST_METHODS) if f"`{m}`" not in doc]
    types = {v for k, v in vars(ev).items() if k.isupper() and isinstance(v, str)}
    missing += [f"event {t}" for t in sorted(types) if f"`{t}`" not in doc]
    codes = [v for k, v in vars(p).items() if k.isupper() and isinstance(v, int) and -32768 <= v <= -32000]
    missing += [f"error {c}" for c in codes if f"| {c} |" not in doc]
    assert not missing, f"docs/protocol.md does not document: {missing}"
    assert f"Protocol version: **{p.PROTOCOL_VERSION}**" in doc


def test_runtime_dir_is_xdg_runtime_dir_else_under_the_state_dir(tmp_path, monkeypatch):
    from muxtui.paths import Paths

    monkeypatch.delenv("MUXTUI_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "rt"))
    assert Paths.default().runtime_dir == tmp_path / "rt" / "muxtui"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert Paths.default().runtime_dir == tmp_path / "state" / "muxtui" / "run"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative/not/allowed")
    assert Paths.default().runtime_dir == tmp_path / "state" / "muxtui" / "run"
    assert Paths.default(tmp_path / "home").runtime_dir == tmp_path / "home" / "run"
