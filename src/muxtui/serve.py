"""`muxtui serve`: the app in a browser, through textual-serve.

Owns the browser server's safety and wiring: the address it listens on (loopback unless the
caller allows another, with a warning), the random token every request must carry (checked with
``hmac.compare_digest`` in a middleware, before any handler runs, so a request without it never
starts an app process), the command each browser connection runs (``python -m muxtui`` on the
same folders), a log that never holds the token, and the ``serve`` subcommand's arguments.

textual-serve runs one app process per browser connection (its ``AppService``); the server
itself never imports Textual or the engine, and the token never reaches an app process.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hmac
import ipaddress
import logging
import secrets
import shlex
import signal
import socket
import sys

from muxtui.paths import Paths

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
STOP_APPS_WAIT = 10.0  # seconds each browser's app gets to save and quit when the server stops
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_UNGUARDED = ("/static/", "/download/")  # textual-serve's own files; downloads are keyed by uuid4


class ServeError(Exception):
    """A problem a user can act on (bad address, port taken)."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve", help="serve the app to a browser (loopback only, a secret token in the URL)",
        description="Serve muxtui to a web browser with textual-serve. Each browser tab runs its "
                    "own muxtui on the same data. The URL to open, with its token, is printed.")
    p.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST}); any address that "
                                  "is not loopback is served with a warning: anyone who can reach it "
                                  "and has the URL can use your API keys, over plain HTTP")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--open", dest="open_browser", action="store_true", help="open the URL in the default browser")
    return p


def run(args: argparse.Namespace, paths: Paths) -> int:
    # An explicit --host is the user's consent to a non-loopback address; nothing else is.
    host = args.host if args.host is not None else DEFAULT_HOST
    return serve(paths, host, args.port, open_browser=args.open_browser, allow_remote=args.host is not None)


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0..65535")
    return value


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback one ("" and 0.0.0.0 are not)."""
    if host.strip() in ("", "*"):
        return False
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ServeError(f"cannot use host {host!r}: {exc.strerror or exc}") from None
    addresses = {info[4][0].split("%", 1)[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def app_command(paths: Paths) -> str:
    """The shell command textual-serve runs per browser connection: this muxtui, same folders."""
    argv = [sys.executable, "-m", "muxtui"]
    if paths == Paths.under(paths.config_dir):
        # MUXTUI_HOME or --home: say it on the command line, as --home may not be in the env.
        argv += ["--home", str(paths.config_dir)]
    # Run by textual-serve with create_subprocess_shell, in the server's process group: the
    # terminal's Ctrl+C reaches the app too, where Textual's web driver turns SIGINT into the
    # same ExitApp as the server's "quit" (the app saves and exits either way). `exec`: the
    # process textual-serve holds (and kill_leftovers kills) is the app, not a shell above it.
    return "exec " + shlex.join(argv)


def url_for(host: str, port: int, token: str) -> str:
    shown = host
    if ":" in host:
        shown = f"[{host}]"
    elif host in ("", "0.0.0.0"):
        shown = socket.gethostname()
    return f"http://{shown}:{port}/?token={token}"


def serve(paths: Paths, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
          open_browser: bool = False, *, allow_remote: bool = False) -> int:
    """Serve the app until SIGINT/SIGTERM; print the URL (with its token) on stdout."""
    try:
        loopback = is_loopback(host)
    except ServeError as exc:
        print(f"muxtui serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not loopback and not allow_remote:
        print(f"muxtui serve: refusing to listen on {host!r}, which is not a loopback address: "
              f"anyone who can reach it could use muxtui with your API keys. "
              f"Give --host {host} explicitly to do it anyway.", file=sys.stderr)
        return EXIT_USAGE
    if not loopback:
        print(f"muxtui serve: warning: listening on {host!r}, not only on this machine. Anyone who can "
              f"reach it and has the URL can use muxtui with your API keys, and the traffic (token "
              f"included) is plain HTTP: prefer an SSH tunnel (ssh -L) to a loopback address.",
              file=sys.stderr)
    token = token or secrets.token_urlsafe(32)
    try:
        return asyncio.run(_serve(paths, host, port, token, open_browser))
    except ServeError as exc:
        print(f"muxtui serve: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # Ctrl+C before the server's own handler was in place
        return EXIT_INTERRUPTED


async def _serve(paths: Paths, host: str, port: int, token: str, open_browser: bool) -> int:
    from aiohttp import web

    _log_without(token)
    server = server_class()(app_command(paths), token)
    runner = web.AppRunner(await server._make_app(), access_log=None, handle_signals=False,
                           shutdown_timeout=STOP_APPS_WAIT)
    await runner.setup()
    site = web.TCPSite(runner, host or None, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bound = runner.addresses[0][1] if runner.addresses else port
    url = url_for(host, bound, token)
    print(f"muxtui serve: open {url}", flush=True)
    print("(each browser tab runs its own muxtui on the same data; Ctrl+C stops the server)", flush=True)
    if open_browser:
        import webbrowser

        loop.run_in_executor(None, webbrowser.open, url)
    try:
        await stop.wait()
    finally:
        await server.close_all()
        await runner.cleanup()
        server.kill_leftovers()
    return 0


def _log_without(token: str) -> None:
    """aiohttp's and textual-serve's messages to stderr, with the token blanked out of each."""

    class Redacting(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return super().format(record).replace(token, "<token>")

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Redacting("muxtui serve: %(name)s: %(levelname)s: %(message)s"))
    for name in ("aiohttp", "textual-serve"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False


def _make_server_class():
    from aiohttp import WSCloseCode, web
    import aiohttp_jinja2
    import jinja2
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, to_int

    server_key = web.AppKey("muxtui_server", object)

    @web.middleware
    async def require_token(request: web.Request, handler):
        server = request.app[server_key]
        path = request.path
        if not path.startswith(_UNGUARDED):
            if path == "/":
                given = request.query.get("token", "")
            elif path.startswith("/ws/"):
                given = path[len("/ws/"):]
            else:
                given = ""
            if not server.token_ok(given):
                raise web.HTTPForbidden(
                    text="403: this address needs the token that `muxtui serve` printed (…/?token=…)\n",
                    headers=_PAGE_HEADERS)
        response = await handler(request)
        if path == "/":
            response.headers.update(_PAGE_HEADERS)
        return response

    class _TokenServer(Server):
        """textual-serve's Server behind a token; the websocket URL carries it in its path."""

        def __init__(self, command: str, token: str) -> None:
            super().__init__(command, title="muxtui")
            self._token = token.encode("utf-8")
            self._sockets: set[web.WebSocketResponse] = set()
            self._services: set[AppService] = set()

        def token_ok(self, given: str) -> bool:
            return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._token)

        async def _make_app(self) -> web.Application:
            app = web.Application(middlewares=[require_token])
            app[server_key] = self
            aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
            app.add_routes([
                web.get("/", self.handle_index, name="index"),
                web.get("/ws/{token}", self.handle_websocket, name="websocket"),
                web.get("/download/{key}", self.handle_download, name="download"),
                web.static("/static", self.statics_path, name="static"),
            ])
            return app

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict:
            # Built from the request's own host, so 0.0.0.0 or port 0 still give a working URL.
            scheme = "wss" if request.secure else "ws"
            return {
                "font_size": to_int(request.query.get("fontsize", "16"), 16),
                "app_websocket_url": f"{scheme}://{request.host}/ws/{self._token.decode()}",
                "config": {"static": {"url": "/static/"}},
                "application": {"name": self.title},
            }

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            # textual-serve's handler, plus a register of live connections so a stopping server
            # can let each app save and quit (aiohttp would otherwise wait, then cancel them).
            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            if not websocket.can_prepare(request).ok:
                raise web.HTTPBadRequest(text="400: this address takes a websocket only\n")
            service: AppService | None = None
            try:
                await websocket.prepare(request)
                self._sockets.add(websocket)
                service = AppService(self.command, write_bytes=websocket.send_bytes,
                                     write_str=websocket.send_str, close=websocket.close,
                                     download_manager=self.download_manager, debug=self.debug)
                self._services.add(service)
                await service.start(width, height)
                await self._process_messages(websocket, service)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:
                logging.getLogger("textual-serve").exception(error)
            finally:
                self._sockets.discard(websocket)
                if service is not None:
                    await service.stop()  # asks the app to quit and waits for it
                    self._services.discard(service)
            return websocket

        async def close_all(self) -> None:
            for websocket in list(self._sockets):
                await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"muxtui serve stopped")

        def kill_leftovers(self) -> None:
            for service in self._services:
                process = service._process  # textual-serve keeps no public handle on it
                if process is not None and process.returncode is None:
                    process.kill()

    return _TokenServer


_PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",  # the page loads a web font: never tell that site our URL
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


@functools.cache
def server_class():
    """The token-guarded server class (aiohttp and textual-serve load only when `serve` runs)."""
    return _make_server_class()
