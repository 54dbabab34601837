"""Plain helpers shared by every test layer (fixtures live in the conftest.py files).

- home: the temp MUXTUI_HOME and its config.toml, pointed at the fake server; the history on disk.
- app: driving MuxApp under Textual's pilot (make_app, start, send, until, settle, screen_text).
- cli: the real `muxtui` command in a subprocess.
- terminal: reading a pseudo-terminal, and the app started under one.
- processes: waiting for a process to exit; stopping the engine host of a home.
"""
