"""Moved to :mod:`muxtui.settings` (config checks [defaults] and [presets] with it, and config sits below the engine).

This name is the very same module object (not a copy), so imports written before the move, and
monkeypatching through either name, keep working.
"""

import sys

from muxtui import settings as _moved

sys.modules[__name__] = _moved
