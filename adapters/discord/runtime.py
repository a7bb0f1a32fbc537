"""What every Discord handler shares: the client, the core's services and the settings."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord.config import DiscordConfig
from adapters.discord.keys import KeyResolver, dm_key, key_of_channel
from bot.engine import ConversationEngine, TurnResult
from bot.errors import BotError
from bot.model import ConversationKey, IncomingMessage
from bot.reply.base import MessageSink, StreamedReply

if TYPE_CHECKING:
    from bot.reply.factory import ReplyFactory

logger = logging.getLogger(__name__)

THREAD_MEMORY = 10_000


@dataclass(slots=True)
class Runtime:
    """Services handed to the message, command, button and upkeep handlers."""

    client: discord.Client
    engine: ConversationEngine
    replies: ReplyFactory
    config: DiscordConfig
    message_content: bool
    keys: KeyResolver
    _known: OrderedDict[ConversationKey, None] = field(default_factory=OrderedDict)
    _tasks: set[asyncio.Task[object]] = field(default_factory=set)

    def track(self) -> None:
        """Count the calling handler task as in flight until it ends (see ``drain``)."""
        task = asyncio.current_task()
        if task is not None and task not in self._tasks:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def drain(self, within: float) -> None:
        """Wait (bounded) for handlers still storing their outcome, before the client closes."""
        pending = {t for t in self._tasks if t is not asyncio.current_task()}
        if pending:
            logger.info("waiting for %d Discord handler(s) to finish", len(pending))
            await asyncio.wait(pending, timeout=within)

    @property
    def bot_id(self) -> int:
        user = self.client.user
        return user.id if user is not None else 0

    async def key_of(self, interaction: discord.Interaction[Any]) -> ConversationKey:
        """The conversation an interaction (command or button) happened in."""
        key = key_of_channel(interaction.channel)
        if key is not None:
            return key
        channel_id = interaction.channel_id or 0
        if interaction.guild_id is None:
            return dm_key(channel_id)
        return await self.keys.resolve(interaction.guild_id, channel_id)

    async def participating(self, key: ConversationKey) -> bool:
        """Whether the bot answers in this conversation already (remembered once true)."""
        if key in self._known:
            return True
        if not await self.engine.is_participating(key):
            return False
        self.mark_participating(key)
        return True

    def mark_participating(self, key: ConversationKey) -> None:
        self._known[key] = None
        self._known.move_to_end(key)
        while len(self._known) > THREAD_MEMORY:
            self._known.popitem(last=False)

    def reply(self, sink: MessageSink) -> StreamedReply:
        """A progressive reply through ``sink`` (which may watch it to place its buttons)."""
        reply = self.replies.create(sink)
        follow = getattr(sink, "follow", None)
        if follow is not None:
            follow(reply)
        return reply

    async def answer(
        self,
        incoming: IncomingMessage,
        sink: MessageSink,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> TurnResult | None:
        """Stream the engine's answer to ``incoming`` into ``sink``."""
        self.mark_participating(incoming.key)
        reply = self.reply(sink)
        try:
            return await self.engine.handle(incoming, reply, overrides=overrides)
        except BotError as exc:
            logger.warning("conversation %s: could not answer: %s", incoming.key, exc)
            return None
