"""``app_state``, named locks across stores, estimated usage and ``usage_totals``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.model import ConversationKey, Usage
from bot.store.db import make_engine
from bot.store.sql import SqlConversationStore
from bot.store.usage import UsageQuery

from .conftest import FakeClock

KEY = ConversationKey("slack", "T1", "C1", "")
OTHER = ConversationKey("discord", "G1", "D1", "")


async def test_state_is_stored_and_replaced(store: SqlConversationStore) -> None:
    assert await store.get_state("discord.commands:1:global") is None
    await store.set_state("discord.commands:1:global", "abc")
    await store.set_state("discord.commands:1:global", "def")
    await store.set_state("other", "x")
    assert await store.get_state("discord.commands:1:global") == "def"
    assert await store.get_state("other") == "x"


async def test_a_named_lock_lets_one_holder_through_at_a_time(
    store: SqlConversationStore, store_url: str, clock: FakeClock
) -> None:
    """Two stores on one database (two processes on PostgreSQL; one process on SQLite)."""
    if store_url.startswith("sqlite"):
        second = store  # one process serves SQLite
        engine: AsyncEngine | None = None
    else:
        engine = make_engine(store_url)
        second = SqlConversationStore(engine, clock=clock)
    order: list[str] = []
    first_holds = asyncio.Event()
    try:
        async with store.hold_lock("sync"):
            first_holds.set()
            waiter = asyncio.create_task(_take(second, "sync", order))
            done, _ = await asyncio.wait({waiter}, timeout=0.5)
            assert not done, "the lock was taken twice"
            order.append("first leaves")
        await asyncio.wait_for(waiter, 10)
        async with store.hold_lock("another"), second.hold_lock("different name"):
            order.append("independent")
    finally:
        if engine is not None:
            await second.close()
            await engine.dispose()
    assert order == ["first leaves", "second in", "independent"]


async def _take(store: SqlConversationStore, name: str, order: list[str]) -> None:
    async with store.hold_lock(name):
        order.append("second in")


async def test_estimated_usage_is_totalled_apart(
    store: SqlConversationStore, clock: FakeClock
) -> None:
    await store.record_usage(KEY, "U1", "m1", Usage(100, 20))
    await store.record_usage(KEY, "U1", "m1", Usage(30, 5), estimated=True)
    await store.record_usage(OTHER, "U2", "m2", Usage(7, 3), estimated=True)
    since = clock.now - timedelta(days=1)
    by_user = await store.usage_totals(UsageQuery("user", since))
    assert [(g.group, g.platform, g.workspace) for g in by_user] == [
        ("U1", "slack", "T1"),
        ("U2", "discord", "G1"),
    ]
    first = by_user[0]
    assert (first.requests, first.estimated_requests) == (2, 1)
    assert (first.prompt_tokens, first.completion_tokens, first.estimated_tokens) == (130, 25, 35)
    assert first.reported_tokens == 120
    by_model = await store.usage_totals(UsageQuery("model", since, platform="discord"))
    assert [(g.group, g.total_tokens, g.estimated_tokens) for g in by_model] == [("m2", 10, 10)]
    by_day = await store.usage_totals(UsageQuery("day", since, workspace="T1"))
    assert [(g.group, g.requests) for g in by_day] == [(clock.now.date().isoformat(), 2)]
    later = await store.usage_totals(UsageQuery("channel", clock.now + timedelta(seconds=1)))
    assert later == []
    with pytest.raises(ValueError, match="grouped by"):
        await store.usage_totals(UsageQuery("team", since))
