"""Engine fixtures: StreamManagers on the temp MUXTUI_HOME (tests/conftest.py `home`), each with a
Recorder of its events (tests.helpers.engine); their streams are cancelled at the end."""

from __future__ import annotations

import pytest

from muxtui import config as config_mod
from muxtui.engine.logs import EventLog, Redactor
from muxtui.engine.manager import StreamManager
from muxtui.engine.storage import Storage
from tests.helpers.engine import Recorder
from tests.helpers.home import TEST_KEY


@pytest.fixture
def make_manager(home):
    managers: list[StreamManager] = []

    def make(**cfg_changes) -> tuple[StreamManager, Recorder]:
        cfg = config_mod.load(home.config_file)
        for key, value in cfg_changes.items():
            if hasattr(cfg.stream, key):
                setattr(cfg.stream, key, value)
            else:
                setattr(cfg, key, value)
        manager = StreamManager(cfg, Storage(home.data_dir), EventLog(home.log_dir, Redactor([TEST_KEY])))
        rec = Recorder()
        manager.subscribe(rec)
        managers.append(manager)
        return manager, rec

    yield make
    for m in managers:
        for ws in list(m._workspaces.values()):
            if ws.task is not None and not ws.task.done():
                ws.task.cancel()
        for ws in m._workspaces.values():
            ws.store.unlock_stream()
