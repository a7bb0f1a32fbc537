"""What every Discord handler shares: the client, the core's services and the settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord.config import DiscordConfig
from adapters.discord.governance import tell_refused
from adapters.discord.keys import KeyResolver, dm_key, key_of_channel
from adapters.discord.sink import ChannelSink
from bot.engine import ConversationEngine, Resume, TurnResult
from bot.errors import BotError, Refused, ShuttingDown, StoreError
from bot.model import ConversationKey, IncomingMessage
from bot.reply.base import MessageSink, StreamedReply

if TYPE_CHECKING:
    from bot.reply.factory import ReplyFactory

logger = logging.getLogger(__name__)

THREAD_MEMORY = 10_000
NOT_SAVED = (
    "⚠ I could not save your message (my database is unavailable), so I can't answer it. "
    "Please send it again in a minute."
)


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
        """End every live answer, then wait for the handlers storing outcomes; ``within`` s in all.

        Called before the client closes its HTTP session. Once the client has served (it got
        READY, or handlers are in flight) the engine is shut down (``engine.close``: each live
        answer ends with the restart notice, or finishes) while the answers' messages can still
        be edited; closing such a client means the process is going down. Otherwise the engine
        is left alone: a client closed before READY (Discord refusing an intent at IDENTIFY) is
        replaced by another that keeps serving.
        """
        pending = {t for t in self._tasks if t is not asyncio.current_task()}
        if not pending and not self.client.is_ready():
            return
        logger.info("ending live answers before Discord closes (%d handler(s))", len(pending))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.engine.close(), within)
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))

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
        """A progressive reply through ``sink`` (the reply gives each message its role)."""
        return self.replies.create(sink)

    async def answer(
        self,
        incoming: IncomingMessage,
        sink: MessageSink,
        *,
        overrides: Mapping[str, Any] | None = None,
    ) -> TurnResult | None:
        """Store ``incoming`` with its owed answer, then stream the answer into ``sink``.

        When the database cannot take the question the user is told at once (a gateway event
        cannot be refused the way an HTTP request can), and nothing is answered.
        """
        self.mark_participating(incoming.key)
        target = {"channel_id": getattr(sink, "channel_id", 0) or 0}
        try:
            accepted = await self.engine.accept(incoming, target=target, overrides=overrides)
        except Refused as exc:  # access, flood control or a quota: a private DM, nothing stored
            await tell_refused(self.client, incoming.author_id, exc.user_message)
            return None
        except StoreError as exc:
            logger.warning("conversation %s: question not stored: %s", incoming.key, exc)
            await self._say(sink, exc.user_message if isinstance(exc, ShuttingDown) else NOT_SAVED)
            return None
        if accepted is None:
            return None
        reply = self.reply(sink)
        try:
            return await self.engine.answer(accepted, reply)
        except BotError as exc:
            logger.warning("conversation %s: could not answer: %s", incoming.key, exc)
            return None

    async def _say(self, sink: MessageSink, text: str) -> None:
        """Post a notice that is not an answer: no Stop or Regenerate buttons on it."""
        plan = getattr(sink, "buttons", None)
        if plan is not None:
            plan.plain = True
        try:
            await sink.post(text, final=True)
        except BotError as exc:
            logger.warning("could not tell the user: %s", exc)

    def rebuild(self, stored: Mapping[str, Any], resume: Resume | None) -> StreamedReply:
        """The reply of an owed answer taken over from another process (``ReplyRebuilder``):
        channel messages in the stored channel (an interaction token may have expired)."""
        channel_id = int(stored.get("channel_id") or 0)
        key = key_of_channel(self.client.get_channel(channel_id))
        sink = ChannelSink(self.client, channel_id, key or dm_key(channel_id))
        if resume is None:
            return self.reply(sink)
        return self.replies.create(sink, shown_text=resume.text, adopt=resume.message_ids)

    def can_admin(self, interaction: discord.Interaction[Any]) -> bool:
        """Server managers, administrators and ``DISCORD_ADMIN_ROLES``; everyone in DMs."""
        if interaction.guild is None:
            return True
        perms = interaction.permissions
        if perms.manage_guild or perms.administrator:
            return True
        roles = getattr(interaction.user, "roles", [])
        wanted = self.config.admin_roles
        return any(role.name.lower() in wanted or str(role.id) in wanted for role in roles)
