"""SQL for durable answers: the ``answer_jobs`` rows that say which answers are still owed.

Each function runs inside a transaction the store opened. Claiming uses
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two replicas never take the same job; neither waits
for the other), and SQLite's single writer there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.model import ConversationKey, TurnStatus
from bot.store.base import JOB_QUEUED, JOB_STREAMING, Job, JobSpec
from bot.store.tables import AnswerJob, Conversation, Message

EPOCH = datetime(1970, 1, 1)


def job_row(answer_id: int, conversation_id: int, spec: JobSpec, now: datetime) -> dict[str, Any]:
    return {
        "message_id": answer_id,
        "conversation_id": conversation_id,
        "state": JOB_QUEUED,
        "owner": spec.owner,
        "lease_until": spec.lease_until,
        "target": dict(spec.target),
        "overrides": dict(spec.overrides),
        "requester": spec.requester,
        "supersedes": spec.supersedes,
        "stop_requested": False,
        "created_at": now,
    }


async def start(conn: AsyncConnection, answer_id: int, owner: str) -> bool | None:
    owned = (AnswerJob.message_id == answer_id, AnswerJob.owner == owner)
    row = (
        await conn.execute(
            update(AnswerJob)
            .where(*owned)
            .values(state=JOB_STREAMING)
            .returning(AnswerJob.stop_requested)
        )
    ).first()
    if row is None:
        return None
    streaming = {"status": TurnStatus.STREAMING.value}
    await conn.execute(update(Message).where(Message.id == answer_id).values(streaming))
    return bool(row.stop_requested)


async def renew(conn: AsyncConnection, owner: str, until: datetime) -> list[int]:
    rows = await conn.execute(
        update(AnswerJob)
        .where(AnswerJob.owner == owner)
        .values(lease_until=until)
        .returning(AnswerJob.message_id, AnswerJob.stop_requested)
    )
    return [int(r.message_id) for r in rows if r.stop_requested]


async def stops(conn: AsyncConnection, owner: str) -> list[int]:
    rows = await conn.execute(
        select(AnswerJob.message_id).where(AnswerJob.owner == owner, AnswerJob.stop_requested)
    )
    return [int(r.message_id) for r in rows]


async def claim(
    conn: AsyncConnection,
    owner: str,
    now: datetime,
    until: datetime,
    platforms: Sequence[str],
    *,
    any_owner: bool,
    limit: int,
    skip_locked: bool,
) -> list[int]:
    available = or_(AnswerJob.lease_until < now, AnswerJob.owner == "")
    if any_owner:
        available = AnswerJob.owner != owner
    candidates = (
        select(AnswerJob.message_id)
        .join(Conversation, Conversation.id == AnswerJob.conversation_id)
        .where(available, Conversation.platform.in_(list(platforms)))
        .order_by(AnswerJob.message_id)
        .limit(limit)
    )
    if skip_locked:
        candidates = candidates.with_for_update(skip_locked=True, of=AnswerJob)
    rows = await conn.execute(
        update(AnswerJob)
        .where(AnswerJob.message_id.in_(candidates.scalar_subquery()), available)
        .values(owner=owner, lease_until=until)
        .returning(AnswerJob.message_id)
    )
    return sorted(int(r.message_id) for r in rows)


async def load(conn: AsyncConnection, answer_ids: Sequence[int]) -> list[Job]:
    if not answer_ids:
        return []
    stmt = (
        select(
            AnswerJob.message_id,
            AnswerJob.state,
            AnswerJob.target,
            AnswerJob.requester,
            AnswerJob.overrides,
            AnswerJob.supersedes,
            Message.content,
            Message.platform_message_ids,
            Conversation.platform,
            Conversation.workspace,
            Conversation.channel,
            Conversation.thread,
        )
        .join(Message, Message.id == AnswerJob.message_id)
        .join(Conversation, Conversation.id == AnswerJob.conversation_id)
        .where(AnswerJob.message_id.in_(list(answer_ids)))
        .order_by(AnswerJob.message_id)
    )
    jobs = []
    for row in await conn.execute(stmt):
        key = ConversationKey(row.platform, row.workspace, row.channel, row.thread)
        jobs.append(
            Job(
                answer_id=int(row.message_id),
                key=key,
                state=row.state,
                target=dict(row.target or {}),
                requester=row.requester,
                overrides=dict(row.overrides or {}),
                supersedes=row.supersedes,
                text=row.content or "",
                message_ids=list(row.platform_message_ids or []),
            )
        )
    return jobs


async def release(conn: AsyncConnection, owner: str) -> int:
    result = await conn.execute(
        update(AnswerJob).where(AnswerJob.owner == owner).values(owner="", lease_until=EPOCH)
    )
    return result.rowcount


async def flag_stop(conn: AsyncConnection, answer_id: int) -> bool:
    result = await conn.execute(
        update(AnswerJob).where(AnswerJob.message_id == answer_id).values(stop_requested=True)
    )
    return result.rowcount > 0


async def drop(conn: AsyncConnection, answer_id: int) -> None:
    await conn.execute(delete(AnswerJob).where(AnswerJob.message_id == answer_id))
