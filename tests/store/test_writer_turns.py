"""SQLite writer turns: a new question's write goes before queued ordinary writes."""

from __future__ import annotations

import asyncio

from bot.store.writer import WriterTurns


async def _write(turns: WriterTurns, name: str, order: list[str], urgent: bool = False) -> None:
    async with turns.hold(urgent=urgent):
        order.append(name)
        await asyncio.sleep(0)


async def test_an_urgent_writer_overtakes_queued_ordinary_ones() -> None:
    turns, order = WriterTurns(), []
    gate = asyncio.Event()

    async def holder() -> None:
        async with turns.hold():
            order.append("holder")
            await gate.wait()

    tasks = [asyncio.create_task(holder())]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(_write(turns, f"turn{i}", order)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(_write(turns, "accept", order, urgent=True)))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["holder", "accept", "turn0", "turn1", "turn2"]


async def test_a_cancelled_waiter_does_not_keep_the_writer() -> None:
    turns, order = WriterTurns(), []
    gate = asyncio.Event()

    async def holder() -> None:
        async with turns.hold():
            await gate.wait()

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    doomed = asyncio.create_task(_write(turns, "doomed", order, urgent=True))
    later = asyncio.create_task(_write(turns, "later", order))
    await asyncio.sleep(0)
    doomed.cancel()
    gate.set()
    await asyncio.gather(first, later, return_exceptions=True)
    assert order == ["later"]
    await asyncio.wait_for(_write(turns, "free", order), 1)
    assert order == ["later", "free"]
