"""``ChannelSink``: an answer written as ordinary messages in a channel, thread or DM.

Limits: 2,000 characters per message (the core's splitter rolls over before that, keeping code
fences intact); edits share a per-channel budget (``discord:channel:<id>``), since Discord's
message bucket is about 5 writes per 5 s per channel. Every request carries
``AllowedMentions.none()``, so model output can never ping ``@everyone``, a role or a user.
The client is built with ``max_ratelimit_timeout`` so discord.py never sleeps longer than 30 s
inside a call; longer waits come back as ``SinkRateLimited`` for the scheduler to honour.
An edit refused because the thread was archived unarchives it once and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import discord

from adapters.discord.errors import THREAD_ARCHIVED, call, error_code
from adapters.discord.views import answer_view
from bot.errors import SinkError, SinkMessageGone
from bot.model import ConversationKey
from bot.reply.base import SinkLimits

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_CHARS = 2000
EDITS_PER_MINUTE = 50.0
EDIT_BURST = 4
MIN_EDIT_INTERVAL = 1.0
PLACEHOLDER = "…"
NO_MENTIONS = discord.AllowedMentions.none()


def sink_limits(channel_id: int) -> SinkLimits:
    """The budget every stream in one channel shares."""
    return SinkLimits(
        max_chars=MAX_CHARS,
        rate_scope=f"discord:channel:{channel_id}",
        edits_per_minute=EDITS_PER_MINUTE,
        burst=EDIT_BURST,
        min_edit_interval=MIN_EDIT_INTERVAL,
    )


def checked_text(text: str) -> str:
    """The content to send: never empty, never over the limit (that would be a splitter bug)."""
    if len(text) > MAX_CHARS:
        raise SinkError(f"message of {len(text)} characters is over Discord's {MAX_CHARS}")
    return text or PLACEHOLDER


class ChannelSink:
    """Posts with ``POST /channels/{id}/messages`` and edits with ``PATCH …/messages/{id}``."""

    def __init__(
        self,
        client: discord.Client,
        channel_id: int,
        key: ConversationKey,
        *,
        reply_to: int | None = None,
    ) -> None:
        self._client = client
        self._channel_id = channel_id
        self._key = key
        self._reply_to = reply_to
        self._limits = sink_limits(channel_id)
        self._unarchived = False

    @property
    def limits(self) -> SinkLimits:
        return self._limits

    @property
    def channel_id(self) -> int:
        return self._channel_id

    def sanitize(self, text: str) -> str:
        """Unchanged: ``AllowedMentions.none()`` on every request is what stops pings."""
        return text

    async def post(self, text: str, *, final: bool) -> str:
        channel = self._client.get_partial_messageable(self._channel_id)
        reference = self._take_reference()
        content = checked_text(text)

        def send() -> Awaitable[discord.Message]:
            return channel.send(
                content,
                view=answer_view(self._key, final=final),
                allowed_mentions=NO_MENTIONS,
                reference=reference,  # type: ignore[arg-type]
                mention_author=False if reference is not None else None,  # type: ignore[arg-type]
            )

        message = await self._write(f"post in {self._channel_id}", send)
        return str(message.id)

    async def edit(self, message_id: str, text: str, *, final: bool) -> None:
        channel = self._client.get_partial_messageable(self._channel_id)
        partial = channel.get_partial_message(int(message_id))
        content = checked_text(text)

        def update() -> Awaitable[discord.Message]:
            return partial.edit(
                content=content,
                view=answer_view(self._key, final=final),
                allowed_mentions=NO_MENTIONS,
            )

        await self._write(f"edit {message_id} in {self._channel_id}", update)

    def _take_reference(self) -> discord.MessageReference | None:
        """Only the first message of an answer replies to the user's message."""
        if self._reply_to is None:
            return None
        message_id, self._reply_to = self._reply_to, None
        return discord.MessageReference(
            message_id=message_id, channel_id=self._channel_id, fail_if_not_exists=False
        )

    async def _write(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call(what, request())
        except SinkMessageGone as exc:
            if error_code(exc) != THREAD_ARCHIVED or self._unarchived:
                raise
            self._unarchived = True
            await self._unarchive(exc)
            return await call(what, request())

    async def _unarchive(self, gone: SinkMessageGone) -> None:
        logger.info("thread %s is archived; unarchiving it to keep answering", self._channel_id)
        try:
            await call(
                "unarchive", self._client.http.edit_channel(self._channel_id, archived=False)
            )
        except SinkError as exc:
            logger.warning("cannot unarchive thread %s (locked?): %s", self._channel_id, exc)
            raise gone from exc
