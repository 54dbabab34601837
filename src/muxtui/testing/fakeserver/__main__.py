"""``python -m muxtui.testing.fakeserver [--host H] [--port N] [--require-key K]``: print the base
URL and serve until SIGTERM or SIGINT."""

import sys

from muxtui.testing.fakeserver.server import main

if __name__ == "__main__":
    sys.exit(main())
