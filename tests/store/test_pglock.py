"""Conversation locks across replicas (``bot.store.pglock``) on the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.model import ConversationKey
from bot.store.db import make_engine
from bot.store.pglock import AdvisoryLocks

MORE_THAN_MAX_CONNECTIONS = 150


def key(index: int) -> ConversationKey:
    return ConversationKey("slack", "T1", f"C{index}", "")


@contextlib.asynccontextmanager
async def locks(url: str) -> AsyncIterator[AdvisoryLocks]:
    held = AdvisoryLocks(make_url(url).set(drivername="postgresql+asyncpg"), 5.0)
    try:
        yield held
    finally:
        await held.close()


async def backends(url: str) -> int:
    """Connections to the test database, this query's own included."""
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.connect() as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            return int((await conn.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


async def test_many_live_answers_share_one_lock_connection(pg_session_url: str) -> None:
    before = await backends(pg_session_url)
    async with locks(pg_session_url) as replica, contextlib.AsyncExitStack() as stack:
        for index in range(MORE_THAN_MAX_CONNECTIONS):  # PostgreSQL allows 100 by default
            await stack.enter_async_context(replica.hold(key(index)))
        during = await backends(pg_session_url)
    assert during - before <= 1


async def test_another_replica_waits_for_the_turn(pg_session_url: str) -> None:
    order: list[str] = []
    async with locks(pg_session_url) as first, locks(pg_session_url) as second:
        async with first.hold(key(1)):
            waiting = asyncio.create_task(_note(second, key(1), order, "second"))
            await asyncio.sleep(0.3)
            assert not waiting.done(), "the other replica must wait"
            order.append("first done")
        await asyncio.wait_for(waiting, 5)
        async with first.hold(key(2)):  # other conversations were never held up
            order.append("unrelated")
    assert order == ["first done", "second", "unrelated"]


async def test_a_cancelled_waiter_leaves_no_lock_behind(pg_session_url: str) -> None:
    async with locks(pg_session_url) as first, locks(pg_session_url) as second:
        async with first.hold(key(3)):
            waiting = asyncio.create_task(_note(second, key(3), [], "never"))
            await asyncio.sleep(0.1)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
        async with asyncio.timeout(5), first.hold(key(3)):
            pass  # free again: neither replica kept it


async def _note(
    replica: AdvisoryLocks, conversation: ConversationKey, out: list[str], what: str
) -> None:
    async with replica.hold(conversation):
        out.append(what)


async def test_a_lock_connection_ended_by_the_server_is_replaced(pg_session_url: str) -> None:
    async with locks(pg_session_url) as replica:
        async with replica.hold(key(4)):
            pass  # the shared connection now exists, idle
        await _end_other_sessions(pg_session_url)
        async with asyncio.timeout(5), replica.hold(key(4)):
            pass  # the dead connection is noticed and replaced, the answer goes on


async def _end_other_sessions(url: str) -> None:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()
