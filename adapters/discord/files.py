"""Attachments on a Discord message as core ``Attachment``s, downloaded from their CDN URLs
(signed URLs: no token is sent), bounded like every download (``bot.files.download``)."""

from __future__ import annotations

import discord

from bot.attachments import Attachment
from bot.files.download import download


def discord_attachments(message: discord.Message) -> tuple[Attachment, ...]:
    """The message's attachments, in order."""
    return tuple(_attachment(a) for a in message.attachments)


def _attachment(item: discord.Attachment) -> Attachment:
    url = item.url

    async def fetch(limit: int) -> bytes:
        return await download(url, limit)

    return Attachment(name=item.filename, mime=item.content_type or "", size=item.size, fetch=fetch)
