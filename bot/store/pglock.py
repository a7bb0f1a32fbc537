"""Per-conversation turns across replicas: PostgreSQL session advisory locks on one connection.

A live answer holds ``pg_advisory_lock(<conversation hash>)`` so replicas sharing one database
answer a conversation one message at a time. All of a process's conversation locks live on
**one** connection of their own (autocommit, no transaction stays open), taken with
``pg_try_advisory_lock`` and retried with a growing pause while another replica holds it.

Why one shared session and not a connection per answer: a connection per live answer made the
lock connections grow with the load, and two replicas with a hundred answers each used up
PostgreSQL's ``max_connections`` (100 by default), so every other query, accepting questions
included, was refused (measured: 503s and failed answers in the replicas benchmark). Session
locks are re-entrant per session, which is safe here because the engine's in-process lock
already lets one answer per conversation at a time into this process. The waiting order
across replicas comes from the answer jobs (an answer waits for every older one of its
conversation, ``bot.turns``), not from PostgreSQL's lock queue.

If the shared connection breaks, PostgreSQL drops its locks with it; the next request opens a
new connection, and the holders' unlocks there are harmless no-ops.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable

from sqlalchemy import URL, TextClause, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.errors import StoreError
from bot.model import ConversationKey

logger = logging.getLogger(__name__)

TRY_LOCK = text("SELECT pg_try_advisory_lock(:id)")
UNLOCK = text("SELECT pg_advisory_unlock(:id)")
FIRST_PAUSE = 0.02
MAX_PAUSE = 0.5
"""Seconds between tries while another replica holds the conversation (doubling up to this)."""


def lock_id(key: ConversationKey) -> int:
    """A stable signed 64-bit id for the conversation (PostgreSQL's bigint lock key)."""
    digest = hashlib.blake2b(str(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """Hands out conversation turns held in PostgreSQL, on one connection per process."""

    def __init__(self, url: URL, connect_timeout: float) -> None:
        self._engine: AsyncEngine = create_async_engine(
            url, poolclass=NullPool, connect_args={"timeout": connect_timeout}
        )
        self._conn: AsyncConnection | None = None
        self._io = asyncio.Lock()
        self._pending: set[asyncio.Future[object]] = set()

    @contextlib.asynccontextmanager
    async def hold(self, key: ConversationKey) -> AsyncIterator[None]:
        """Wait for the conversation's turn and keep it for the block."""
        params = {"id": lock_id(key)}
        await self._take(params)
        try:
            yield
        finally:
            await self._give_back(params)

    async def _take(self, params: dict[str, int]) -> None:
        pause = FIRST_PAUSE
        while True:
            trying = asyncio.ensure_future(self._run(TRY_LOCK, params))
            try:
                # A statement cancelled halfway would leave the shared connection unusable:
                # it always runs to the end, and a lock it took for a cancelled waiter is
                # given back.
                if await asyncio.shield(trying):
                    return
            except asyncio.CancelledError:
                trying.add_done_callback(lambda done: self._taken_for_nobody(done, params))
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)

    def _taken_for_nobody(self, done: asyncio.Future[bool], params: dict[str, int]) -> None:
        if not done.cancelled() and done.exception() is None and done.result():
            self._background(self._give_back(params))

    async def _give_back(self, params: dict[str, int]) -> None:
        unlocking = asyncio.ensure_future(self._run(UNLOCK, params))
        try:
            await asyncio.shield(unlocking)
        except StoreError:
            pass  # the connection broke, and the lock went with it
        except asyncio.CancelledError:
            self._background(unlocking)
            raise

    def _background(self, work: Awaitable[object]) -> None:
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Future[object]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("giving back a conversation lock failed: %r", task.exception())

    async def _run(self, statement: TextClause, params: dict[str, int]) -> bool:
        """One statement on the shared connection; ``StoreError`` if it fails.

        A connection the server ended while idle (a database restart, an outage) is only found
        out by using it: a try for a lock then runs once more on a new connection (the old
        one's locks went with it). An unlock is not repeated: its lock is gone already.
        """
        async with self._io:
            retry = statement is TRY_LOCK and self._conn is not None
            try:
                return await self._execute(statement, params)
            except (SQLAlchemyError, OSError) as exc:
                await self._drop()
                if not retry:
                    raise _lock_error(exc) from exc
            try:
                return await self._execute(statement, params)
            except (SQLAlchemyError, OSError) as exc:
                await self._drop()
                raise _lock_error(exc) from exc

    async def _execute(self, statement: TextClause, params: dict[str, int]) -> bool:
        conn = await self._connection()
        return bool((await conn.execute(statement, params)).scalar())

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = self._engine.connect()
            try:
                await conn.start()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            except BaseException:
                await _close(conn)
                raise
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            logger.warning("the conversation-lock connection failed; its locks are gone")
            await _close(conn)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        async with self._io:
            conn, self._conn = self._conn, None
            if conn is not None:
                await _close(conn)
        await self._engine.dispose()


def _lock_error(exc: BaseException) -> StoreError:
    return StoreError(f"could not take the conversation lock: {type(exc).__name__}")


async def _close(conn: AsyncConnection) -> None:
    with contextlib.suppress(SQLAlchemyError, OSError):
        await conn.close()
