"""Attachments through a real engine host: `muxtui send -a` attaching to the running engine, and
a 20 MB image crossing the unix socket as one `store_attachment` request and reaching the fake server."""

from __future__ import annotations

import base64
import uuid

import pytest

from muxtui.client.attachments import AttachmentError, read_attachment
from muxtui.host.attached import AttachedEngine
from tests.engine.test_attachments import PNG
from tests.helpers.cli import muxtui

pytestmark = pytest.mark.slow


async def test_send_with_files_through_the_running_engine(host_home, engines, fake_server, tmp_path):
    remote = await engines()
    tag = uuid.uuid4().hex[:8]
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "photo.png").write_bytes(PNG)
    out = muxtui(host_home, "send", "-w", "att", "-m", f"fake:h{tag}?text=seen", "-a", str(tmp_path / "main.py"),
                 "-a", str(tmp_path / "photo.png"), "what", "is", "this")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "seen"
    user = fake_server.requests[fake_server.request_index(f"h{tag}?text=seen")]["json"]["messages"][-1]
    assert user["content"][0] == {"type": "text", "text": "main.py:\n```python\nprint(1)\n```\n\nwhat is this"}
    assert user["content"][1]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    # It went through the engine host: the engine's own history has the references.
    ws = next(w for w in await remote.list_workspaces() if w.name == "att")
    history = await remote.history(workspace=ws.id)
    assert [r["name"] for r in history[0]["attachments"]] == ["main.py", "photo.png"]


async def test_a_20_mb_image_crosses_the_socket(host_home, engines, fake_server, tmp_path):
    await engines()  # the engine process is running; the client attaches to it
    big = tmp_path / "big.png"
    big.write_bytes(PNG + bytes(19_900_000 - len(PNG)))
    engine = AttachedEngine(host_home, spawn=False)
    try:
        ref = await engine.store_attachment(name="big.png", data=base64.b64encode(big.read_bytes()).decode("ascii"))
        assert ref["size"] == 19_900_000 and ref["kind"] == "image"
        tag = uuid.uuid4().hex[:8]
        ws = (await engine.create_workspace("big", f"fake:b{tag}")).id
        assert await engine.send(ws, "how big?", attachments=[ref]) == "started"
        await engine.wait_idle(ws)
        fake_server.wait_requests(1)
        user = fake_server.requests[fake_server.request_index(f"b{tag}")]["json"]["messages"][-1]
        assert len(user["content"][1]["image_url"]["url"]) == len("data:image/png;base64,") + 26_533_336
        with pytest.raises(AttachmentError, match=r"big.png is 20.1 MB; the limit for images is 20 MB"):
            await engine.store_attachment(name="big.png", data=base64.b64encode(PNG + bytes(20_100_000)).decode("ascii"))
        with pytest.raises(ValueError, match="unknown attachment id"):
            await engine.send(ws, "x", attachments=[{**ref, "id": "0" * 64}])
    finally:
        await engine.close()
    with pytest.raises(AttachmentError):
        read_attachment(tmp_path / "nothing-here.png")
