"""Files on a Slack message (``event["files"]``) as core ``Attachment``s.

Each is downloaded from ``url_private_download`` (else ``url_private``) with the bot token as
``Authorization: Bearer``, which needs the ``files:read`` scope. Files Slack hides (``mode``
``tombstone`` / ``hidden_by_limit``) or lists without a URL are named as not readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.attachments import Attachment, FileRefused
from bot.files.download import download


def slack_attachments(event: Mapping[str, Any], token: str) -> tuple[Attachment, ...]:
    """The message's files, in order."""
    files = event.get("files")
    if not isinstance(files, list):
        return ()
    return tuple(_attachment(f, token) for f in files if isinstance(f, Mapping))


def _attachment(file: Mapping[str, Any], token: str) -> Attachment:
    name = str(file.get("name") or file.get("title") or file.get("id") or "file")
    url = str(file.get("url_private_download") or file.get("url_private") or "")
    size = file.get("size")

    async def fetch(limit: int) -> bytes:
        if not url or file.get("mode") in {"tombstone", "hidden_by_limit"}:
            raise FileRefused("Slack does not let the bot download it")
        return await download(url, limit, {"Authorization": f"Bearer {token}"})

    return Attachment(
        name=name,
        mime=str(file.get("mimetype") or ""),
        size=size if isinstance(size, int) else 0,
        fetch=fetch,
    )
