"""``python -m muxtui.engine.search DATA_DIR``: bring the folder's index up to date (the
indexer's child process)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from muxtui.engine.search.index import SearchIndex


def _main(argv: list[str]) -> int:
    """``python -m muxtui.engine.search DATA_DIR``: bring the folder's index up to date."""
    try:
        os.nice(10)  # the UI comes first
    except OSError:
        pass
    index = SearchIndex(Path(argv[0]))
    try:
        index.sync_all()
    finally:
        index.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
