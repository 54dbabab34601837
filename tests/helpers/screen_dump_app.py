"""The bare `muxtui --no-engine` command, plus a way to ask it what Textual itself would paint.

    python -m tests.helpers.screen_dump_app      # with MUXTUI_SCREEN_DUMP=FILE

On SIGUSR1 the app writes FILE: the bytes of a full repaint of its screen, rendered by Textual's
own code (every row's strip as Strip.render writes it), without ui/terminal_output. A test feeds
those into a fresh terminal model and compares it with the screen the app's real, diffed output
built. The hook is installed from outside (as bench.trace_app does), never in the app's code.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys


def install(path: str) -> None:
    from muxtui.ui.app import MuxApp
    from muxtui.ui.textual_private import screen_strips

    original = MuxApp.on_mount

    async def on_mount(self) -> None:
        await original(self)

        def dump() -> None:
            strips = screen_strips(self.screen)
            text = "".join(f"\x1b[{y + 1};1H\x1b[0m" + strip.render(self.console) for y, strip in enumerate(strips))
            size = f"{self.size.width}x{self.size.height}\n"
            with open(path + ".tmp", "w", encoding="utf-8") as out:
                out.write(size + text)
            os.replace(path + ".tmp", path)

        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)

    MuxApp.on_mount = on_mount


def main() -> int:
    install(os.environ["MUXTUI_SCREEN_DUMP"])
    from muxtui.cli import main as cli_main

    return cli_main(["--no-engine"])


if __name__ == "__main__":
    sys.exit(main())
