"""Attaching files in the app: the picker (key "attach", palette "Attach file"), a long paste
uploaded in the background, and the attachments of a message about to be sent (its chips and
its ``@path`` tokens naming files), all handed to the engine through muxtui.client.attachments.

A file is read and uploaded when it is attached, so the size limits and an unreadable file are
reported in the picker, and the composer (and its saved draft) holds only the engine's ref.
``AttachActions`` is mixed into ``MuxApp``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muxtui.client.attachments import AttachmentError, find_at_paths, read_attachment, text_attachment, upload
from muxtui.ui.attach_chips import ComposerAttachment
from muxtui.ui.attach_picker import AttachScreen
from muxtui.ui.composer import Composer

if TYPE_CHECKING:
    from muxtui.ui.app import MuxApp

UPLOAD_ERRORS = (ValueError, OSError, KeyError, RuntimeError)  # AttachmentError is a ValueError


class AttachActions:
    """See the module docstring."""

    @property
    def attach_cwd(self: MuxApp) -> Path:
        return Path.cwd()

    async def attach_file(self: MuxApp, path: str) -> dict[str, Any]:
        """Read `path` (from the current folder), check it and give it to the engine: its ref.
        AttachmentError / OSError say why not, in words for the user."""
        target = Path(path).expanduser()
        target = target if target.is_absolute() else self.attach_cwd / target
        attachment = await asyncio.to_thread(read_attachment, target, limits=self.config.attachments)
        return await upload(self.engine, attachment)

    def action_attach(self: MuxApp) -> None:
        if self.current_id is None:
            return

        def attached(ref: dict[str, Any] | None) -> None:
            composer = self.composer
            if ref is not None:
                composer.add_attachment(ref)
            composer.focus()

        self.push_screen(AttachScreen(self.attach_cwd, self.attach_file), attached)

    async def on_composer_pasted_text(self: MuxApp, message: Composer.PastedText) -> None:
        attachment = message.attachment
        text = attachment.text
        if text is None:
            return
        try:
            ref = await upload(self.engine, text_attachment(attachment.name, text))
        except UPLOAD_ERRORS as exc:
            message.composer.attachment_refused(attachment.number)
            self.notify(f"the paste stays as text: {exc}", severity="warning", markup=False)
            return
        message.composer.attachment_stored(attachment.number, ref)

    async def message_attachments(self: MuxApp, text: str, chips: list[ComposerAttachment]) -> list[dict[str, Any]]:
        """The refs to send with `text`: its chips' (a paste not uploaded yet is now), then the
        files its ``@path`` tokens name, each file once. AttachmentError (a ValueError) and the
        engine's refusals propagate: the caller keeps the draft."""
        refs: list[dict[str, Any]] = []
        for chip in chips:
            if chip.ref is None and chip.text is not None:
                chip.ref = await upload(self.engine, text_attachment(chip.name, chip.text))
                chip.text = None
            if chip.ref is None:
                raise AttachmentError(f"{chip.name}: not attached (remove its chip and attach it again)")
            refs.append(chip.ref)
        if "@" in text:
            found = await asyncio.to_thread(find_at_paths, text, self.attach_cwd)
            for _start, _end, path in found:
                attachment = await asyncio.to_thread(read_attachment, path, limits=self.config.attachments)
                refs.append(await upload(self.engine, attachment))
        seen: set[Any] = set()
        unique = []
        for ref in refs:
            key = (ref.get("id"), ref.get("name"))
            if key not in seen:
                seen.add(key)
                unique.append(ref)
        return unique
