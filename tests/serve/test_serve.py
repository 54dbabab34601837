"""`muxtui serve` without a browser: the address rule, the token (printed, required, compared in
constant time, checked before any app process starts) and logs that never hold it."""

from __future__ import annotations

import asyncio
import logging
import shlex
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from muxtui import serve as serve_mod
from muxtui.paths import Paths


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_names(host):
    assert serve_mod.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "*", "192.0.2.7"])
def test_other_addresses_are_not_loopback(host):
    assert not serve_mod.is_loopback(host)


def test_a_non_loopback_address_is_refused_unless_explicit(serve_home, capsys, monkeypatch):
    started = []
    monkeypatch.setattr(serve_mod, "_serve", lambda *a: started.append(a))  # never listen here
    assert serve_mod.serve(serve_home, "0.0.0.0", 0) == serve_mod.EXIT_USAGE
    err = capsys.readouterr().err
    assert "refusing to listen on '0.0.0.0'" in err and "--host 0.0.0.0" in err
    assert started == []


def test_cli_defaults_to_loopback_and_an_explicit_host_warns(serve_home, capsys, monkeypatch):
    calls = []

    async def fake_serve(paths, host, port, token, open_browser):
        calls.append((host, port))
        return 0

    monkeypatch.setattr(serve_mod, "_serve", fake_serve)
    from muxtui.cli import main

    assert main(["--home", str(serve_home.config_dir), "serve", "--port", "0"]) == 0
    assert calls[-1] == ("127.0.0.1", 0)
    assert "warning" not in capsys.readouterr().err
    assert main(["--home", str(serve_home.config_dir), "serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert calls[-1] == ("0.0.0.0", 0)
    assert "warning: listening on '0.0.0.0'" in capsys.readouterr().err


def test_an_unknown_host_is_a_clear_error(serve_home, capsys):
    assert serve_mod.serve(serve_home, "no-such-host.invalid", 0, allow_remote=True) == serve_mod.EXIT_USAGE
    assert "cannot use host 'no-such-host.invalid'" in capsys.readouterr().err


def test_the_app_command_keeps_the_same_folders(tmp_path):
    home = tmp_path / "a home with spaces"
    argv = shlex.split(serve_mod.app_command(Paths.under(home)))
    assert argv == ["exec", sys.executable, "-m", "muxtui", "--home", str(home.absolute())]
    xdg = Paths(config_dir=tmp_path / "c", data_dir=tmp_path / "d", log_dir=tmp_path / "l")
    assert shlex.split(serve_mod.app_command(xdg))[1:] == [sys.executable, "-m", "muxtui"]  # env carries XDG_*


async def test_no_app_process_starts_without_the_token(tmp_path):
    """Every guarded route answers 403 before its handler runs: the app command never runs."""
    marker = tmp_path / "app-started"
    token = "right-token-0123456789"
    server = serve_mod.server_class()(f"touch {shlex.quote(str(marker))}", token)
    async with TestClient(TestServer(await server._make_app())) as client:
        for path in ("/", "/?token=wrong", "/?token=%C3%A9", f"/?token={token}x", "/ws/wrong",
                     "/ws/", f"/ws/{token[:-1]}", "/anything", f"/anything?token={token}"):
            response = await client.get(path)
            assert response.status == 403, path
            assert token not in await response.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/wrong")
        assert refused.value.status == 403
        assert not marker.exists()
        assert (await client.get("/static/js/textual.js")).status == 200  # textual-serve's own files
        page = await client.get(f"/?token={token}")
        assert page.status == 200 and page.headers["Referrer-Policy"] == "no-referrer"
        assert f"/ws/{token}" in await page.text()
        # The right token runs the command: the 403s above were the only thing in its way.
        ws = await client.ws_connect(f"/ws/{token}")
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await ws.close()
        assert marker.exists()


def test_token_compare_is_constant_time(monkeypatch):
    seen = []
    import hmac

    real = hmac.compare_digest
    monkeypatch.setattr(serve_mod.hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    server = serve_mod.server_class()("true", "tok")
    assert server.token_ok("tok") and not server.token_ok("tok2") and not server.token_ok("é")
    assert [b for _, b in seen] == [b"tok"] * 3


def test_log_lines_have_the_token_blanked(capsys):
    token = "secret-token-for-the-log-test"
    loggers = {n: logging.getLogger(n) for n in ("aiohttp", "textual-serve")}
    saved = {n: (lg.handlers[:], lg.level, lg.propagate) for n, lg in loggers.items()}
    try:
        serve_mod._log_without(token)
        logging.getLogger("aiohttp.server").error("bad request to /ws/%s", token)
        try:
            raise ValueError(f"GET /?token={token}")
        except ValueError:
            logging.getLogger("textual-serve").exception("failed")
    finally:
        for n, (handlers, level, propagate) in saved.items():
            loggers[n].handlers[:], loggers[n].level, loggers[n].propagate = handlers, level, propagate
    err = capsys.readouterr().err
    assert "bad request to /ws/<token>" in err and "GET /?token=<token>" in err
    assert token not in err


def test_the_token_is_printed_once_and_reaches_no_log(serve_home, start_serve):
    server = start_serve(serve_home.config_dir, "--port", "0")
    url = server.wait_url()
    token = server.token
    assert len(token) >= 40 and url.startswith("http://127.0.0.1:")
    base = url.split("?", 1)[0]

    async def visit():
        async with aiohttp.ClientSession() as session:
            for bad in (base, f"{base}?token=nope", f"{base}ws/nope", f"{base}ws/{token}"):  # last: not a websocket
                async with session.get(bad) as response:
                    assert response.status in (400, 403)
            async with session.get(url) as response:
                assert response.status == 200
            # A real app session, left open while the server stops.
            ws = await session.ws_connect(f"{base.replace('http', 'ws', 1)}ws/{token}?width=80&height=24")
            got = 0
            while got < 2000:  # the app's first screen arrives as bytes
                message = await asyncio.wait_for(ws.receive(), 30)
                assert message.type == aiohttp.WSMsgType.BINARY, message
                got += len(message.data)
            [app] = server.children()
            assert Path(f"/proc/{app}/cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", b"muxtui"]
            started = time.monotonic()
            assert await asyncio.to_thread(server.stop) == 0  # SIGINT, with the app still attached
            return time.monotonic() - started

    stop_time = asyncio.run(visit())
    assert stop_time < serve_mod.STOP_APPS_WAIT + 5
    out, err = "".join(server.stdout), "".join(server.stderr)
    assert out.count(token) == 1, out
    assert token not in err
    for path in serve_home.config_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_a_port_in_use_is_a_clear_error(serve_home, capsys):
    import socket

    loggers = {n: logging.getLogger(n) for n in ("aiohttp", "textual-serve")}
    saved = {n: (lg.handlers[:], lg.level, lg.propagate) for n, lg in loggers.items()}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            assert serve_mod.serve(serve_home, "127.0.0.1", port) == serve_mod.EXIT_ERROR
        finally:
            for n, (handlers, level, propagate) in saved.items():
                loggers[n].handlers[:], loggers[n].level, loggers[n].propagate = handlers, level, propagate
    out, err = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in err and "in use" in err
    assert "token" not in out  # no URL for a server that is not there
