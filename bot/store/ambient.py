"""Channel context: messages seen in a channel, kept as context for a later mention there.

Decided here: a light table of its own (``channel_messages``), not the conversations' history:
these messages were not said to the bot, belong to no conversation, and must never make the
bot "participate" anywhere. Each channel keeps its newest ``KEEP`` rows (older ones are deleted
when a new one is recorded); a mention reads those written before it, by the platform's
timestamps (events of one channel may be handled out of order), oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.features import MAX_CONTEXT
from bot.model import ConversationKey
from bot.store.tables import ChannelMessage, as_utc, utc_now

KEEP = MAX_CONTEXT
SEEN_COLUMNS = (
    ChannelMessage.message_id,
    ChannelMessage.author_id,
    ChannelMessage.author_name,
    ChannelMessage.content,
    ChannelMessage.created_at,
)


@dataclass(frozen=True, slots=True)
class SeenMessage:
    """One message of a channel, as channel context shows it."""

    message_id: str
    author_id: str
    author_name: str
    text: str
    created_at: datetime | None = None


class AmbientStore(Protocol):
    """What the engine needs for channel context."""

    async def record_seen(self, channel: ConversationKey, message: SeenMessage) -> None:
        """Keep ``message`` of ``channel`` (its newest ``KEEP`` stay)."""
        ...

    async def recent_seen(
        self, channel: ConversationKey, limit: int, before: SeenMessage | None = None
    ) -> list[SeenMessage]:
        """The channel's newest ``limit`` messages written before message ``before``, oldest
        first (platform time, then platform id: events may be handled out of order)."""
        ...


class AmbientQueries:
    """``AmbientStore`` for ``SqlConversationStore`` (a mixin over its transactions)."""

    def _tx(self, *, write: bool) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError  # SqlConversationStore's transaction

    async def record_seen(self, channel: ConversationKey, message: SeenMessage) -> None:
        where = _channel(channel)
        async with self._tx(write=True) as conn:
            await conn.execute(
                insert(ChannelMessage).values(
                    platform=channel.platform,
                    workspace=channel.workspace,
                    channel=channel.channel,
                    message_id=message.message_id,
                    author_id=message.author_id,
                    author_name=message.author_name[:255],
                    content=message.text,
                    created_at=as_utc(message.created_at or utc_now()),
                )
            )
            oldest_kept = (
                select(ChannelMessage.id)
                .where(*where)
                .order_by(ChannelMessage.id.desc())
                .offset(KEEP - 1)
                .limit(1)
                .scalar_subquery()
            )
            await conn.execute(
                delete(ChannelMessage).where(*where, ChannelMessage.id < oldest_kept)
            )

    async def recent_seen(
        self, channel: ConversationKey, limit: int, before: SeenMessage | None = None
    ) -> list[SeenMessage]:
        where = list(_channel(channel))
        if before is not None and before.created_at is not None:
            where.append(_earlier(before.created_at, before.message_id))
        newest_first = (ChannelMessage.created_at.desc(), ChannelMessage.message_id.desc())
        async with self._tx(write=False) as conn:
            rows = await conn.execute(
                select(*SEEN_COLUMNS).where(*where).order_by(*newest_first).limit(limit)
            )
            found = [SeenMessage(*row) for row in rows]
        return found[::-1]


def _earlier(when: datetime, message_id: str) -> ColumnElement[bool]:
    """Written before (``when``, ``message_id``): platform ids of one channel grow with time
    (Discord snowflakes, Slack timestamps) and break ties within the clock's precision."""
    at = as_utc(when)
    same = and_(ChannelMessage.created_at == at, ChannelMessage.message_id < message_id)
    return or_(ChannelMessage.created_at < at, same)


def _channel(channel: ConversationKey) -> Sequence[ColumnElement[bool]]:
    return (
        ChannelMessage.platform == channel.platform,
        ChannelMessage.workspace == channel.workspace,
        ChannelMessage.channel == channel.channel,
    )
