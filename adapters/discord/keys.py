"""Conversation keys for Discord places.

    guild text channel   ConversationKey("discord", guild, channel, "")
    thread               ConversationKey("discord", guild, parent channel, thread)
    DM                   ConversationKey("discord", "", dm channel, "")

A thread's parent comes from discord.py's cache when it has the thread, else from
``GET /channels/{id}`` (remembered, bounded), so raw events about uncached channels work too.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import discord

from bot.model import ConversationKey

logger = logging.getLogger(__name__)

PLATFORM = "discord"
PARENT_MEMORY = 10_000
THREAD_TYPES = (
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
)


def dm_key(channel_id: int) -> ConversationKey:
    return ConversationKey(PLATFORM, "", str(channel_id), "")


def guild_key(guild_id: int, channel_id: int, thread_id: int | None = None) -> ConversationKey:
    return ConversationKey(PLATFORM, str(guild_id), str(channel_id), str(thread_id or ""))


def key_from_ids(guild_id: int | None, channel: str, thread: str) -> ConversationKey:
    """The key encoded in a button (guild from the interaction)."""
    return ConversationKey(PLATFORM, str(guild_id or ""), channel, thread)


def key_of_channel(channel: object) -> ConversationKey | None:
    """The key for a cached channel object; ``None`` if its kind is not known here."""
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        return guild_key(channel.guild.id, channel.parent_id, channel.id)
    if isinstance(channel, discord.DMChannel):
        return dm_key(channel.id)
    if isinstance(channel, discord.abc.GuildChannel):
        return guild_key(channel.guild.id, channel.id)
    return None


class KeyResolver:
    """Turns (guild id, channel id) from any event into a conversation key."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client
        self._parents: OrderedDict[int, int] = OrderedDict()

    def remember(self, thread_id: int, parent_id: int) -> None:
        self._parents[thread_id] = parent_id
        self._parents.move_to_end(thread_id)
        while len(self._parents) > PARENT_MEMORY:
            self._parents.popitem(last=False)

    async def resolve(self, guild_id: int | None, channel_id: int) -> ConversationKey:
        if guild_id is None:
            return dm_key(channel_id)
        cached = key_of_channel(self._client.get_channel(channel_id))
        if cached is not None:
            return cached
        parent = self._parents.get(channel_id)
        if parent is None:
            parent = await self._fetch_parent(channel_id)
        if parent is None:
            return guild_key(guild_id, channel_id)
        return guild_key(guild_id, parent, channel_id)

    async def _fetch_parent(self, channel_id: int) -> int | None:
        """The parent of a thread not in the cache (``None`` for a non-thread channel)."""
        try:
            data = await self._client.http.get_channel(channel_id)
        except discord.HTTPException as exc:
            logger.info("cannot look up channel %s: %s", channel_id, exc)
            return None
        if data.get("type") not in {t.value for t in THREAD_TYPES}:
            return None
        parent = int(str(data.get("parent_id") or 0)) or None
        if parent is not None:
            self.remember(channel_id, parent)
        return parent
