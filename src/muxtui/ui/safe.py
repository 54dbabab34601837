"""Make untrusted text inert on the app's screen: the app's name for ``muxtui.safetext``.

The rules (which characters, which stand-ins) live in ``muxtui.safetext`` so the command line
uses exactly the same ones without importing the UI. A ``\\r\\n`` split across two stream chunks
is mended when the finished reply is rendered from its full text.
"""

from muxtui.safetext import BIDI, one_line, visible

__all__ = ["BIDI", "one_line", "visible"]
