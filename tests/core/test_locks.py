from __future__ import annotations

import asyncio

from bot.locks import KeyedLocks
from bot.model import ConversationKey

A = ConversationKey("p", "w", "a")
B = ConversationKey("p", "w", "b")


async def test_holders_of_one_key_run_in_arrival_order_and_locks_are_forgotten():
    locks, order = KeyedLocks(), []

    async def use(key, name, pause):
        async with locks.hold(key):
            order.append(f"{name}+")
            await asyncio.sleep(pause)
            order.append(f"{name}-")

    await asyncio.gather(use(A, "1", 0.02), use(A, "2", 0), use(B, "3", 0), use(A, "4", 0))
    assert order.index("1-") < order.index("2+") < order.index("2-") < order.index("4+")
    assert order.index("3+") < order.index("1-")
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_nothing_behind():
    locks = KeyedLocks()
    async with locks.hold(A):
        waiter = asyncio.create_task(locks.hold(A).__aenter__())
        await asyncio.sleep(0)
        assert locks.waiting(A) == 2
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert locks.waiting(A) == 1
    assert len(locks) == 0
