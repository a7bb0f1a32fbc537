"""``/attach PATH``: a local file attached to the console's next message, read by the same rules
as Slack and Discord files (size limit, type by content, never executed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.attachments import Attachment, FileRefused

ATTACH = "/attach"


def file_attachment(path_text: str) -> Attachment:
    """An ``Attachment`` reading ``path_text``; ``FileRefused`` when it is not a readable file."""
    path = Path(path_text.strip()).expanduser()
    if not path_text.strip():
        raise FileRefused("usage: /attach PATH")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileRefused(f"cannot read {path}: {exc.strerror}") from None
    if not path.is_file():
        raise FileRefused(f"{path} is not a file")

    async def fetch(limit: int) -> bytes:
        return await asyncio.to_thread(_read, path, limit)

    return Attachment(name=path.name, mime="", size=size, fetch=fetch)


def _read(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(limit + 1)
