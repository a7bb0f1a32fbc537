"""Incoming messages: who gets an answer, where, and what is only recorded.

    own messages, system messages                 ignored
    other bots / webhooks                         recorded in bot threads (answered only with
                                                  DISCORD_ANSWER_BOTS=true)
    DM                                            answered in place (or refused: DISCORD_ALLOW_DMS)
    thread the bot answers in                     every message answered (needs MESSAGE_CONTENT
                                                  unless it mentions the bot)
    other thread, @mention                        answered in the thread
    channel, @mention                             a new thread on the message (thread mode,
                                                  default) or a reply in place (reply mode)

Each message is claimed once (``claim_event``) so a gateway replay or a second process with the
same shard never answers twice. When the database cannot take that claim, a message for the bot
gets a reply at once saying it could not be saved (a gateway event cannot be refused the way an
HTTP request can); every other database failure drops the event with one log line.
"""

from __future__ import annotations

import logging

import discord

from adapters.discord.files import discord_attachments
from adapters.discord.governance import roles_of, tell_refused
from adapters.discord.keys import dm_key, guild_key, key_of_channel
from adapters.discord.runtime import NOT_SAVED, Runtime
from adapters.discord.sink import NO_MENTIONS, ChannelSink
from adapters.discord.text import model_text, thread_name
from bot.branches import BRANCH_FROM
from bot.errors import Refused, StoreError
from bot.model import ConversationKey, IncomingMessage

logger = logging.getLogger(__name__)

ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
NO_THREADS = (discord.VoiceChannel, discord.StageChannel, discord.Thread, discord.DMChannel)
DMS_OFF = "I don't answer direct messages here. Mention me in a server channel or use /chat there."
EMPTY_MENTION = "Hi! Mention me with a question, or use /chat to start a thread."
FILES_ONLY = "(Files were sent without any other text.)"


class MessageHandler:
    """``on_message`` for Threadline."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def on_message(self, message: discord.Message) -> None:
        try:
            await self._route(message)
        except StoreError as exc:
            logger.warning("message %s in %s not handled: %s", message.id, message.channel.id, exc)

    async def _route(self, message: discord.Message) -> None:
        if message.author.id == self._rt.bot_id or message.type not in ANSWERED_TYPES:
            return
        if message.guild is None:
            await self._direct(message)
            return
        key = await self._key(message)
        if not key.thread:
            await self._seen(message, key)
        from_bot = message.author.bot or message.webhook_id is not None
        if from_bot and not self._rt.config.answer_bots:
            await self._record_if_participating(message, key)
            return
        if key.thread:
            await self._in_thread(message, key)
        elif self._mentioned(message):
            await self._mention_in_channel(message, key)

    async def _key(self, message: discord.Message) -> ConversationKey:
        key = key_of_channel(message.channel)
        if key is not None:
            return key
        guild_id = message.guild.id if message.guild is not None else None
        return await self._rt.keys.resolve(guild_id, message.channel.id)

    async def _seen(self, message: discord.Message, key: ConversationKey) -> None:
        """A channel message (not in a thread) is kept as channel context where the channel
        has ``channel_context`` on (the engine decides)."""
        text = self._text(message)
        if text:
            await self._rt.engine.seen(self._incoming(message, key, text))

    def _mentioned(self, message: discord.Message) -> bool:
        if any(user.id == self._rt.bot_id for user in message.mentions):
            return True
        guild = message.guild
        own_role = guild.self_role if guild is not None else None
        return own_role is not None and own_role in message.role_mentions

    async def _direct(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        if not self._rt.config.allow_dms:
            await message.channel.send(DMS_OFF, allowed_mentions=NO_MENTIONS)
            return
        key = dm_key(message.channel.id)
        await self._answer(message, key, message.channel.id, reply_to=None)

    async def _in_thread(self, message: discord.Message, key: ConversationKey) -> None:
        participating = await self._rt.participating(key)
        mentioned = self._mentioned(message)
        if not participating and not mentioned:
            return
        if not mentioned and not message.content and not message.attachments:
            logger.debug("thread %s: message without readable content ignored", key)
            return
        reply_to = None if participating else message.id
        await self._answer(message, key, message.channel.id, reply_to=reply_to)

    async def _mention_in_channel(self, message: discord.Message, key: ConversationKey) -> None:
        if self._rt.config.mention_mode != "thread" or not self._text(message):
            await self._answer(message, key, message.channel.id, reply_to=message.id)
            return
        if not await self._claim(message) or not await self._admitted(message, key):
            return
        thread = await self._open_thread(message)
        if thread is None or message.guild is None:
            await self._answer(message, key, message.channel.id, reply_to=message.id, claimed=True)
            return
        thread_key = guild_key(message.guild.id, message.channel.id, thread.id)
        self._rt.keys.remember(thread.id, message.channel.id)
        await self._answer(message, thread_key, thread.id, reply_to=None, claimed=True)

    async def _admitted(self, message: discord.Message, key: ConversationKey) -> bool:
        """Whether governance would take the question; if not, its author is told by DM and
        no thread is opened (a refusal leaves nothing in the channel)."""
        try:
            await self._rt.engine.governance.admit(self._incoming(message, key, ""))
        except Refused as exc:
            await tell_refused(self._rt.client, str(message.author.id), exc.user_message)
            return False
        return True

    async def _open_thread(self, message: discord.Message) -> discord.Thread | None:
        """A public thread on the user's message; ``None`` where that is not possible."""
        if isinstance(message.channel, NO_THREADS) or message.guild is None:
            return None
        name = thread_name(model_text(message.content, self._rt.bot_id))
        try:
            return await message.create_thread(
                name=name,
                auto_archive_duration=self._rt.config.archive_minutes,  # type: ignore[arg-type]
            )
        except discord.HTTPException as exc:
            logger.info(
                "cannot open a thread in %s, replying in place: %s", message.channel.id, exc
            )
            return None

    async def _claim(self, message: discord.Message) -> bool:
        """True the first time; False for a duplicate, or (after telling the user) when the
        database cannot store the claim."""
        try:
            return await self._rt.engine.claim_event("discord", f"message:{message.id}")
        except StoreError as exc:
            logger.warning("message %s not stored: %s", message.id, exc)
            await self._not_saved(message)
            return False

    async def _not_saved(self, message: discord.Message) -> None:
        try:
            await message.reply(NOT_SAVED, mention_author=False, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            logger.warning("could not tell %s the message was not saved: %s", message.id, exc)

    async def _answer(
        self,
        message: discord.Message,
        key: ConversationKey,
        target: int,
        *,
        reply_to: int | None,
        claimed: bool = False,
    ) -> None:
        text = self._text(message) or (FILES_ONLY if message.attachments else "")
        if not claimed and not await self._claim(message):
            return
        if not text:
            if message.guild is not None:
                await message.reply(
                    EMPTY_MENTION, mention_author=False, allowed_mentions=NO_MENTIONS
                )
            return
        incoming = self._incoming(message, key, text)
        sink = ChannelSink(self._rt.client, target, key, reply_to=reply_to)
        await self._rt.answer(incoming, sink, overrides=_branch_from(message))

    async def _record_if_participating(
        self, message: discord.Message, key: ConversationKey
    ) -> None:
        text = self._text(message)
        if text and key.thread and await self._rt.participating(key):
            await self._rt.engine.record(self._incoming(message, key, text))

    def _text(self, message: discord.Message) -> str:
        return model_text(
            message.content,
            self._rt.bot_id,
            users={u.id: u.display_name for u in message.mentions},
            roles={r.id: r.name for r in message.role_mentions},
            channels={c.id: c.name for c in message.channel_mentions},
        )

    def _incoming(
        self, message: discord.Message, key: ConversationKey, text: str
    ) -> IncomingMessage:
        return IncomingMessage(
            key=key,
            message_id=str(message.id),
            author_id=str(message.author.id),
            author_name=message.author.display_name,
            text=text,
            created_at=message.created_at,
            is_direct=message.guild is None,
            roles=roles_of(message.author),
            attachments=discord_attachments(message),
        )


def _branch_from(message: discord.Message) -> dict[str, str]:
    """A reply continues from the message it replies to when that is one of the bot's
    answers (the engine checks; ``bot.branches``)."""
    reference = message.reference
    if message.type is not discord.MessageType.reply or reference is None:
        return {}
    return {BRANCH_FROM: str(reference.message_id)} if reference.message_id else {}
