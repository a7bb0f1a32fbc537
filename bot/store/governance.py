"""The governance queries of ``SqlConversationStore`` (``GovernanceStore``), as a mixin.

Decided here: a person's messages are those they wrote (any role but assistant, by
``author_id``) and the answers they asked for (``requester``), on one platform, in every
workspace: platform user ids are unique across a platform's workspaces. Erasing deletes those
rows (their platform references and owed jobs go with them, by cascade); the usage ledger,
which holds no content, stays. Sums and counts run in the database, so every replica sees the
same figures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, false, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.model import ConversationKey, Role
from bot.store.governance_base import AuditEntry, OwnMessage, SpendRow
from bot.store.queries import MESSAGE_COLUMNS, key_values, to_chat
from bot.store.tables import (
    AuditLog,
    ChannelMessage,
    ChannelSettings,
    Conversation,
    Message,
    UsageEntry,
    as_utc,
)

Insert = sqlite.Insert | postgresql.Insert
AUDIT_FIELDS = (
    "platform",
    "workspace",
    "channel",
    "actor",
    "action",
    "old_value",
    "new_value",
    "created_at",
)


def settings_upsert(
    insert: Callable[[type[Any]], Insert],
    channel: ConversationKey,
    values: Mapping[str, Any],
    now: datetime,
) -> Insert:
    """Insert or replace a channel's overrides (one statement, any dialect)."""
    row = key_values(channel.channel_key(), thread=False)
    row |= {"values": dict(values), "updated_at": now}
    stmt = insert(ChannelSettings).values(row)
    return stmt.on_conflict_do_update(
        index_elements=[
            ChannelSettings.platform,
            ChannelSettings.workspace,
            ChannelSettings.channel,
        ],
        set_={"values": stmt.excluded["values"], "updated_at": stmt.excluded.updated_at},
    )


class GovernanceQueries:
    """Ledger sums, flood counts, the audit log, and a person's own data."""

    _clock: Callable[[], datetime]

    def _tx(self, *, write: bool) -> AbstractAsyncContextManager[AsyncConnection]:
        raise NotImplementedError  # SqlConversationStore's transaction

    def _insert(self, table: type[Any]) -> Insert:
        raise NotImplementedError  # SqlConversationStore's dialect insert

    async def tokens_used(
        self,
        platform: str,
        workspace: str,
        since: datetime,
        *,
        user_id: str | None = None,
        channel: str | None = None,
    ) -> int:
        total = func.coalesce(func.sum(UsageEntry.prompt_tokens + UsageEntry.completion_tokens), 0)
        stmt = select(total).where(*_ledger(platform, workspace, since, user_id, channel))
        async with self._tx(write=False) as conn:
            return int(await conn.scalar(stmt) or 0)

    async def answers_requested(
        self, platform: str, workspace: str, user_id: str, since: datetime
    ) -> int:
        stmt = (
            select(func.count())
            .select_from(Message)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.requester == user_id, Message.created_at >= as_utc(since))
            .where(Message.role == Role.ASSISTANT.value)
            .where(Conversation.platform == platform, Conversation.workspace == workspace)
        )
        async with self._tx(write=False) as conn:
            return int(await conn.scalar(stmt) or 0)

    async def spend(
        self,
        platform: str,
        workspace: str,
        since: datetime,
        *,
        user_id: str | None = None,
        channel: str | None = None,
    ) -> list[SpendRow]:
        prompt = func.sum(UsageEntry.prompt_tokens)
        completion = func.sum(UsageEntry.completion_tokens)
        group = (UsageEntry.user_id, UsageEntry.channel, UsageEntry.model)
        stmt = (
            select(*group, func.count(), prompt, completion)
            .where(*_ledger(platform, workspace, since, user_id, channel))
            .group_by(*group)
            .order_by(*group)
        )
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            SpendRow(str(u), str(c), str(m), int(n), int(p or 0), int(t or 0))
            for u, c, m, n, p, t in rows
        ]

    async def change_settings(
        self, channel: ConversationKey, values: Mapping[str, Any], entry: AuditEntry
    ) -> None:
        now = self._clock()
        async with self._tx(write=True) as conn:
            await conn.execute(settings_upsert(self._insert, channel, values, now))
            await _add_audit(conn, entry, now)

    async def audit_entries(
        self, platform: str | None, workspace: str | None, limit: int
    ) -> list[AuditEntry]:
        columns = [getattr(AuditLog, name) for name in AUDIT_FIELDS]
        stmt = select(*columns).order_by(AuditLog.id.desc()).limit(limit)
        if platform is not None:
            stmt = stmt.where(AuditLog.platform == platform)
        if workspace is not None:
            stmt = stmt.where(AuditLog.workspace == workspace)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [AuditEntry(**row._asdict()) for row in rows]

    async def user_history(self, platform: str, user_id: str) -> list[OwnMessage]:
        stmt = _own(
            select(
                *MESSAGE_COLUMNS,
                Message.extra,
                Conversation.workspace,
                Conversation.channel,
                Conversation.thread,
            ),
            platform,
            user_id,
        ).where(Message.deleted.is_(false()))
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(stmt.order_by(Message.id))).all()
        return [
            OwnMessage(ConversationKey(platform, r.workspace, r.channel, r.thread), to_chat(r))
            for r in rows
        ]

    async def forget_user(self, platform: str, user_id: str) -> int:
        ids = _own(select(Message.id), platform, user_id).scalar_subquery()
        async with self._tx(write=True) as conn:
            result = await conn.execute(delete(Message).where(Message.id.in_(ids)))
            kept = (ChannelMessage.platform == platform, ChannelMessage.author_id == user_id)
            await conn.execute(delete(ChannelMessage).where(*kept))  # channel context, too
        return int(result.rowcount or 0)


def _ledger(
    platform: str, workspace: str, since: datetime, user_id: str | None, channel: str | None
) -> list[ColumnElement[bool]]:
    where = [
        UsageEntry.platform == platform,
        UsageEntry.workspace == workspace,
        UsageEntry.created_at >= as_utc(since),
    ]
    if user_id is not None:
        where.append(UsageEntry.user_id == user_id)
    if channel is not None:
        where.append(UsageEntry.channel == channel)
    return where


def _own(stmt: Select[*tuple[Any, ...]], platform: str, user_id: str) -> Select[*tuple[Any, ...]]:
    """Messages ``user_id`` wrote on ``platform`` and the answers they asked for."""
    wrote = and_(Message.role != Role.ASSISTANT.value, Message.author_id == user_id)
    asked = and_(Message.role == Role.ASSISTANT.value, Message.requester == user_id)
    return (
        stmt.select_from(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.platform == platform, or_(wrote, asked))
    )


async def _add_audit(conn: AsyncConnection, entry: AuditEntry, now: datetime) -> None:
    await conn.execute(
        insert(AuditLog).values(
            platform=entry.platform,
            workspace=entry.workspace,
            channel=entry.channel,
            actor=entry.actor,
            action=entry.action,
            old_value=entry.old_value,
            new_value=entry.new_value,
            created_at=entry.created_at or now,
        )
    )
