"""History upkeep: a user's edits and deletes reach the stored history.

Raw gateway events are used, so messages discord.py never cached (older ones, or any after a
restart) are handled too. A mention that opened a thread lives in the parent channel but
belongs to the thread's conversation (the thread id equals the message id), so a miss in the
channel is retried there. Bots' messages and content-less updates (embeds resolving; no
MESSAGE_CONTENT) are skipped, so history is never blanked by mistake.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord.runtime import Runtime
from adapters.discord.text import model_text
from bot.model import ConversationKey

logger = logging.getLogger(__name__)


class Upkeep:
    """``on_raw_message_edit`` and ``on_raw_message_delete``."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def on_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        text = self._edited_text(payload.data)
        if text is None:
            return
        key = await self._rt.keys.resolve(payload.guild_id, payload.channel_id)
        message_id = str(payload.message_id)
        for candidate in _candidates(key, message_id):
            if await self._rt.engine.message_edited(candidate, message_id, text):
                logger.debug("conversation %s: message %s edited", candidate, message_id)
                return

    async def on_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        key = await self._rt.keys.resolve(payload.guild_id, payload.channel_id)
        message_id = str(payload.message_id)
        for candidate in _candidates(key, message_id):
            if await self._rt.engine.message_deleted(candidate, message_id):
                logger.debug("conversation %s: message %s deleted", candidate, message_id)
                return

    def _edited_text(self, data: Any) -> str | None:
        """The new text of a user's message, or ``None`` when the update is not a text edit."""
        author = data.get("author") or {}
        if author.get("bot") or str(author.get("id")) == str(self._rt.bot_id):
            return None
        content = data.get("content")
        if not isinstance(content, str) or not content.strip():
            return None
        users = {
            int(u["id"]): str(u.get("global_name") or u.get("username") or "")
            for u in data.get("mentions", [])
        }
        return model_text(content, self._rt.bot_id, users=users) or None


def _candidates(key: ConversationKey, message_id: str) -> list[ConversationKey]:
    if key.thread or not key.workspace:
        return [key]
    return [key, ConversationKey(key.platform, key.workspace, key.channel, message_id)]
