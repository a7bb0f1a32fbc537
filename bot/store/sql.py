"""``SqlConversationStore``: the ``ConversationStore`` over SQLAlchemy 2 async (SQLite, PostgreSQL).

Every method is one short transaction on a pooled connection; nothing stays open between calls.
Semantics the protocol leaves open, decided here:

* ``load_context`` returns every live (not deleted) message since the last reset, whatever its
  status; the prompt builder drops assistant turns that are not complete.
* ``reset`` moves the conversation's ``context_start`` marker to its newest message id.
* ``has_conversation`` is True once the conversation holds at least one assistant message
  (the bot took part), even after a reset or a delete; user messages alone don't count.
* ``edit_message`` changes user (non-assistant) messages only, so the bot's own streaming edits
  echoed back by a platform never rewrite history. ``delete_message`` works on any role: the
  row stays (content blanked, ``deleted`` set) so ids and references remain stable.
* ``set_feedback`` accepts +1 or -1, or 0 to clear, on assistant messages only.
* ``export`` returns every message that was not deleted, before and after resets.
* ``claim_event`` is ``INSERT … ON CONFLICT DO NOTHING``: exactly one caller wins, across
  processes and replicas.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    update as sql_update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.errors import StoreError
from bot.model import ChatMessage, ConversationKey, Role, TurnStatus, Usage
from bot.store import jobs
from bot.store.ambient import AmbientQueries
from bot.store.base import Job, JobSpec, MessageUpdate, UsageRow
from bot.store.db import CONNECT_TIMEOUT_S, WRITE, open_store
from bot.store.governance import GovernanceQueries, settings_upsert
from bot.store.pglock import AdvisoryLocks
from bot.store.queries import (
    CONTEXT,
    key_values,
    live_messages,
    match_channel,
    match_key,
    message_values,
    ref_message_id,
    store_error,
    to_chat,
    update_values,
)
from bot.store.state import StateQueries
from bot.store.tables import (
    AnswerJob,
    ChannelSettings,
    Conversation,
    Message,
    MessageRef,
    ProcessedEvent,
    UsageEntry,
    as_utc,
    utc_now,
)
from bot.store.usage import UsageQueries
from bot.store.writer import WriterTurns

logger = logging.getLogger(__name__)

INSERT_MESSAGE = insert(Message).returning(Message.id)
"""Compiled once; values are bound per call (much cheaper than ``.values()`` each time)."""
CONVERSATION_CACHE = 50_000

__all__ = ["SqlConversationStore", "open_store"]

Insert = sqlite.Insert | postgresql.Insert


class SqlConversationStore(AmbientQueries, GovernanceQueries, StateQueries, UsageQueries):
    """Conversation history, channel settings, event dedup and usage in a SQL database."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**WRITE)
        # Every read is one statement: on PostgreSQL it runs without BEGIN/COMMIT, two round
        # trips fewer (the context load, per question, is the hot one).
        self._reader = (
            engine
            if engine.dialect.name == "sqlite"
            else engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._clock = clock
        self._sqlite = engine.dialect.name == "sqlite"
        self._sqlite_writer = WriterTurns()
        self._conversation_ids: dict[ConversationKey, int] = {}
        self._upsert_ref = self._ref_upsert()
        self._turns = None if self._sqlite else AdvisoryLocks(engine.url, CONNECT_TIMEOUT_S)

    def conversation_lock(self, key: ConversationKey) -> AbstractAsyncContextManager[None]:
        """The conversation's turn across processes: a PostgreSQL advisory lock.

        A no-op on SQLite, where one process serves the database and the engine's in-process
        lock already orders each conversation.
        """
        return nullcontext() if self._turns is None else self._turns.hold(key)

    async def close(self) -> None:
        """Release what the store holds besides its engine."""
        if self._turns is not None:
            await self._turns.close()

    @asynccontextmanager
    async def _tx(self, *, write: bool, urgent: bool = False) -> AsyncIterator[AsyncConnection]:
        engine = self._writer if write else self._reader
        try:
            async with self._write_turn(write, urgent), engine.begin() as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise store_error(exc) from exc

    def _write_turn(self, write: bool, urgent: bool) -> AbstractAsyncContextManager[object]:
        """SQLite has one writer: this process's writers queue here instead of spinning in
        SQLite's busy handler (which gives up after the busy timeout under load); ``urgent``
        ones (accepting a question) go first (``bot.store.writer``)."""
        if write and self._sqlite:
            return self._sqlite_writer.hold(urgent=urgent)
        return nullcontext()

    async def ping(self) -> bool:
        """Whether the database answers a trivial query (for health checks)."""
        try:
            async with self._tx(write=False) as conn:
                await conn.execute(select(1))
        except StoreError:
            return False
        return True

    def _ref_upsert(self) -> Insert:
        stmt = self._insert(MessageRef)
        return stmt.on_conflict_do_update(
            index_elements=[MessageRef.conversation_id, MessageRef.platform_message_id],
            set_={"message_id": stmt.excluded.message_id},
        )

    def _insert(self, table: type[Any]) -> Insert:
        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)

    async def add_message(self, key: ConversationKey, message: ChatMessage) -> int:
        [message_id] = await self.add_messages(key, [message])
        return message_id

    # -- durable answers (bot/store/jobs.py) ---------------------------------------------

    async def accept(
        self,
        key: ConversationKey,
        question: ChatMessage,
        job: JobSpec | None,
        claims: Sequence[tuple[str, str]] = (),
    ) -> int | None:
        now = self._clock()
        async with self._tx(write=True, urgent=True) as conn:
            for platform, event_id in claims:
                if not await self._claim(conn, platform, event_id, now):
                    await conn.rollback()
                    return None
            conversation_id = await self._ensure_conversation(conn, key, now)
            question_id = await self._insert_message(conn, conversation_id, question, now)
            if job is None:
                return question_id
            return await self._reserve(conn, conversation_id, job, now)

    async def reserve(self, key: ConversationKey, job: JobSpec) -> int:
        now = self._clock()
        async with self._tx(write=True) as conn:
            conversation_id = await self._ensure_conversation(conn, key, now)
            return await self._reserve(conn, conversation_id, job, now)

    async def _reserve(
        self, conn: AsyncConnection, conversation_id: int, job: JobSpec, now: datetime
    ) -> int:
        pending = ChatMessage(
            role=Role.ASSISTANT, content="", status=TurnStatus.QUEUED, requester=job.requester
        )
        answer_id = await self._insert_message(conn, conversation_id, pending, now)
        await conn.execute(
            insert(AnswerJob).values(jobs.job_row(answer_id, conversation_id, job, now))
        )
        return answer_id

    async def start_job(self, answer_id: int, owner: str) -> bool | None:
        async with self._tx(write=True, urgent=True) as conn:
            return await jobs.start(conn, answer_id, owner)

    async def checkpoint(self, answer_id: int, text: str, message_ids: Sequence[str]) -> None:
        await self.update_message(
            answer_id, MessageUpdate(content=text, platform_message_ids=list(message_ids))
        )

    async def finish_job(self, answer_id: int, update: MessageUpdate) -> None:
        async with self._tx(write=True) as conn:
            await self._update(conn, answer_id, update)
            await jobs.drop(conn, answer_id)

    async def renew_leases(self, owner: str, until: datetime) -> list[int]:
        async with self._tx(write=True) as conn:
            return await jobs.renew(conn, owner, until)

    async def claim_jobs(
        self,
        owner: str,
        until: datetime,
        platforms: Sequence[str],
        *,
        any_owner: bool,
        limit: int,
        now: datetime | None = None,
    ) -> list[Job]:
        now = now or self._clock()
        async with self._tx(write=True) as conn:
            claimed = await jobs.claim(
                conn,
                owner,
                now,
                until,
                platforms,
                any_owner=any_owner,
                limit=limit,
                skip_locked=not self._sqlite,
            )
            return await jobs.load(conn, claimed)

    async def database_now(self) -> datetime:
        """The database server's clock (leases are compared on one clock across hosts)."""
        if self._sqlite:
            return self._clock()
        async with self._tx(write=False) as conn:
            value = await conn.scalar(select(func.now()))
        return as_utc(value) if isinstance(value, datetime) else self._clock()

    async def stop_requests(self, owner: str) -> list[int]:
        async with self._tx(write=False) as conn:
            return await jobs.stops(conn, owner)

    async def release_jobs(self, owner: str) -> int:
        async with self._tx(write=True) as conn:
            return await jobs.release(conn, owner)

    async def request_stop(self, answer_id: int) -> bool:
        async with self._tx(write=True) as conn:
            return await jobs.flag_stop(conn, answer_id)

    async def earlier_owed(self, key: ConversationKey, answer_id: int) -> bool:
        conversation_id = self._conversation_ids.get(key)
        owed = exists().where(AnswerJob.message_id < answer_id)
        if conversation_id is not None:
            owed = owed.where(AnswerJob.conversation_id == conversation_id)
        else:
            owed = owed.where(AnswerJob.conversation_id == Conversation.id, *match_key(key))
        async with self._tx(write=False) as conn:
            return bool(await conn.scalar(select(owed)))

    async def job_exists(self, answer_id: int) -> bool:
        stmt = select(exists().where(AnswerJob.message_id == answer_id))
        async with self._tx(write=False) as conn:
            return bool(await conn.scalar(stmt))

    async def add_messages(
        self, key: ConversationKey, messages: Sequence[ChatMessage]
    ) -> list[int]:
        now = self._clock()
        async with self._tx(write=True) as conn:
            conversation_id = await self._ensure_conversation(conn, key, now)
            return [await self._insert_message(conn, conversation_id, m, now) for m in messages]

    async def _insert_message(
        self, conn: AsyncConnection, conversation_id: int, message: ChatMessage, now: datetime
    ) -> int:
        values = message_values(message) | {
            "conversation_id": conversation_id,
            "created_at": message.created_at or now,
            "updated_at": now,
        }
        inserted = await conn.execute(INSERT_MESSAGE, values)
        message_id = int(inserted.scalar_one())
        unique = list(dict.fromkeys(message.platform_message_ids))
        await self._upsert_refs(conn, conversation_id, message_id, unique)
        return message_id

    async def _ensure_conversation(
        self, conn: AsyncConnection, key: ConversationKey, now: datetime
    ) -> int:
        """The conversation's id, created if new. Ids are cached: conversation rows are never
        deleted (purges remove messages only), so a known id stays valid."""
        cached = self._conversation_ids.get(key)
        if cached is not None:
            return cached
        conversation_id = await self._find_or_create(conn, key, now)
        if len(self._conversation_ids) >= CONVERSATION_CACHE:
            self._conversation_ids.clear()
        self._conversation_ids[key] = conversation_id
        return conversation_id

    async def _find_or_create(
        self, conn: AsyncConnection, key: ConversationKey, now: datetime
    ) -> int:
        found = await conn.scalar(select(Conversation.id).where(*match_key(key)))
        if found is not None:
            return int(found)
        values = key_values(key) | {"context_start": 0, "created_at": now}
        await conn.execute(self._insert(Conversation).values(values).on_conflict_do_nothing())
        created = await conn.execute(select(Conversation.id).where(*match_key(key)))
        return int(created.scalar_one())

    async def _set_refs(
        self, conn: AsyncConnection, conversation_id: int, message_id: int, ids: Sequence[str]
    ) -> None:
        unique = list(dict.fromkeys(ids))
        await conn.execute(
            delete(MessageRef).where(
                MessageRef.message_id == message_id, MessageRef.platform_message_id.not_in(unique)
            )
        )
        await self._upsert_refs(conn, conversation_id, message_id, unique)

    async def _upsert_refs(
        self, conn: AsyncConnection, conversation_id: int, message_id: int, ids: Sequence[str]
    ) -> None:
        """Point each platform id at ``message_id`` (one prepared statement, bound per row)."""
        if not ids:
            return
        owner = {"conversation_id": conversation_id, "message_id": message_id}
        await conn.execute(self._upsert_ref, [owner | {"platform_message_id": pid} for pid in ids])

    async def update_message(self, message_id: int, update: MessageUpdate) -> None:
        async with self._tx(write=True) as conn:
            await self._update(conn, message_id, update)

    async def _update(self, conn: AsyncConnection, message_id: int, update: MessageUpdate) -> None:
        found = (
            await conn.execute(
                select(Message.conversation_id, Message.extra).where(Message.id == message_id)
            )
        ).first()
        if found is None:
            logger.warning("update of unknown message %d ignored", message_id)
            return
        values = update_values(update, found.extra) | {"updated_at": self._clock()}
        await conn.execute(sql_update(Message).where(Message.id == message_id).values(values))
        if update.platform_message_ids is not None:
            ids = update.platform_message_ids
            await self._set_refs(conn, found.conversation_id, message_id, ids)

    async def load_context(self, key: ConversationKey, limit: int) -> list[ChatMessage]:
        if limit <= 0:
            return []
        params = key_values(key) | {"limit": limit}
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(CONTEXT, params)).all()
        return [to_chat(row) for row in reversed(rows)]

    async def has_conversation(self, key: ConversationKey) -> bool:
        stmt = select(
            exists()
            .where(*match_key(key), Message.conversation_id == Conversation.id)
            .where(Message.role == Role.ASSISTANT.value)
        )
        async with self._tx(write=False) as conn:
            return bool(await conn.scalar(stmt))

    async def find_message(
        self, key: ConversationKey, platform_message_id: str
    ) -> ChatMessage | None:
        stmt = live_messages(key).where(Message.id == ref_message_id(key, platform_message_id))
        async with self._tx(write=False) as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else to_chat(row)

    async def edit_message(self, key: ConversationKey, platform_message_id: str, text: str) -> bool:
        values = {"content": text, "updated_at": self._clock()}
        role = Message.role != Role.ASSISTANT.value
        return await self._change_by_ref(key, platform_message_id, values, role)

    async def delete_message(self, key: ConversationKey, platform_message_id: str) -> bool:
        values = {"content": "", "deleted": True, "updated_at": self._clock()}
        return await self._change_by_ref(key, platform_message_id, values)

    async def set_feedback(
        self, key: ConversationKey, platform_message_id: str, value: int
    ) -> bool:
        if value not in (-1, 0, 1):
            raise ValueError(f"feedback must be +1, -1 or 0 (to clear), not {value!r}")
        values = {"feedback": value or None, "updated_at": self._clock()}
        role = Message.role == Role.ASSISTANT.value
        return await self._change_by_ref(key, platform_message_id, values, role)

    async def _change_by_ref(
        self,
        key: ConversationKey,
        platform_message_id: str,
        values: dict[str, Any],
        *conditions: ColumnElement[bool],
    ) -> bool:
        stmt = (
            sql_update(Message)
            .where(
                Message.id == ref_message_id(key, platform_message_id), Message.deleted.is_(false())
            )
            .where(*conditions)
            .values(values)
        )
        async with self._tx(write=True) as conn:
            result = await conn.execute(stmt)
        return result.rowcount > 0

    async def last_assistant_turn(self, key: ConversationKey) -> ChatMessage | None:
        stmt = (
            live_messages(key)
            .where(Message.id > Conversation.context_start)
            .where(Message.role == Role.ASSISTANT.value)
            .order_by(Message.id.desc())
            .limit(1)
        )
        async with self._tx(write=False) as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else to_chat(row)

    async def reset(self, key: ConversationKey) -> None:
        newest = (
            select(func.coalesce(func.max(Message.id), 0))
            .where(Message.conversation_id == Conversation.id)
            .scalar_subquery()
        )
        stmt = sql_update(Conversation).where(*match_key(key)).values(context_start=newest)
        async with self._tx(write=True) as conn:
            await conn.execute(stmt)

    async def export(self, key: ConversationKey) -> list[ChatMessage]:
        stmt = live_messages(key).order_by(Message.id)
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_chat(row) for row in rows]

    async def purge_before(self, cutoff: datetime) -> int:
        stmt = delete(Message).where(Message.created_at < as_utc(cutoff))
        async with self._tx(write=True) as conn:
            result = await conn.execute(stmt)
        return result.rowcount

    async def get_settings(self, channel: ConversationKey) -> dict[str, Any]:
        stmt = select(ChannelSettings.values).where(*match_channel(channel))
        async with self._tx(write=False) as conn:
            values = await conn.scalar(stmt)
        return dict(values) if values else {}

    async def set_settings(self, channel: ConversationKey, values: dict[str, Any]) -> None:
        upsert = settings_upsert(self._insert, channel, values, self._clock())
        async with self._tx(write=True) as conn:
            await conn.execute(upsert)

    async def claim_event(self, platform: str, event_id: str) -> bool:
        async with self._tx(write=True) as conn:
            return await self._claim(conn, platform, event_id, self._clock())

    async def _claim(
        self, conn: AsyncConnection, platform: str, event_id: str, now: datetime
    ) -> bool:
        row = {"platform": platform, "event_id": event_id, "created_at": now}
        stmt = self._insert(ProcessedEvent).values(row).on_conflict_do_nothing()
        claimed = await conn.execute(stmt.returning(ProcessedEvent.event_id))
        return claimed.first() is not None

    async def purge_events_before(self, cutoff: datetime) -> int:
        """Forget processed event ids recorded before ``cutoff``; return how many."""
        stmt = delete(ProcessedEvent).where(ProcessedEvent.created_at < as_utc(cutoff))
        async with self._tx(write=True) as conn:
            result = await conn.execute(stmt)
        return result.rowcount

    async def record_usage(
        self,
        key: ConversationKey,
        user_id: str,
        model: str,
        usage: Usage,
        *,
        estimated: bool = False,
    ) -> None:
        row = key_values(key) | {
            "user_id": user_id,
            "model": model,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "created_at": self._clock(),
            "estimated": estimated,
        }
        async with self._tx(write=True) as conn:
            await conn.execute(insert(UsageEntry).values(row))

    async def usage_by_user(self, platform: str, workspace: str, since: datetime) -> list[UsageRow]:
        prompt = func.sum(UsageEntry.prompt_tokens)
        completion = func.sum(UsageEntry.completion_tokens)
        stmt = (
            select(UsageEntry.user_id, func.count(), prompt, completion)
            .where(UsageEntry.platform == platform, UsageEntry.workspace == workspace)
            .where(UsageEntry.created_at >= as_utc(since))
            .group_by(UsageEntry.user_id)
            .order_by((prompt + completion).desc(), UsageEntry.user_id)
        )
        async with self._tx(write=False) as conn:
            rows = (await conn.execute(stmt)).all()
        return [UsageRow(str(u), int(n), int(p or 0), int(c or 0)) for u, n, p, c in rows]
