"""Moved to :mod:`muxtui.surrogates` (muxtui.atomic, below the engine, cleans text with it).

This name is the very same module object (not a copy), so imports written before the move, and
monkeypatching through either name, keep working.
"""

import sys

from muxtui import surrogates as _moved

sys.modules[__name__] = _moved
