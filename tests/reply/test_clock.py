"""The virtual clock: ordering, auto-advance, manual advance, cancellation."""

from __future__ import annotations

import asyncio
import functools

from bot.reply.clock import FakeClock, SystemClock


async def test_sleep_advances_virtual_time_only_when_idle() -> None:
    clock = FakeClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    await asyncio.gather(sleeper("late", 30.0), sleeper("early", 0.5), sleeper("mid", 2.0))
    assert woke == [("early", 100.5), ("mid", 102.0), ("late", 130.0)]


async def test_timers_due_together_fire_in_scheduling_order() -> None:
    clock = FakeClock()
    fired: list[int] = []
    for index in range(5):
        clock.call_later(1.0, functools.partial(fired.append, index))
    await clock.sleep(2.0)
    assert fired == [0, 1, 2, 3, 4]


async def test_ready_work_runs_before_time_moves() -> None:
    clock = FakeClock()
    steps: list[float] = []

    async def busy() -> None:
        for _ in range(50):
            await asyncio.sleep(0)
        steps.append(clock.monotonic())

    task = asyncio.create_task(busy())
    await clock.sleep(5.0)
    await task
    assert steps == [0.0]


async def test_cancelled_sleep_does_not_fire() -> None:
    clock = FakeClock()
    fired: list[str] = []
    timer = clock.call_later(1.0, lambda: fired.append("cancelled"))
    clock.call_later(2.0, lambda: fired.append("kept"))
    timer.cancel()
    task = asyncio.create_task(clock.sleep(10.0))
    await asyncio.sleep(0)
    task.cancel()
    await clock.sleep(3.0)
    assert fired == ["kept"]
    assert task.cancelled()
    assert clock.pending == 0


async def test_manual_advance() -> None:
    clock = FakeClock(auto_advance=False)
    fired: list[float] = []
    clock.call_later(1.0, lambda: fired.append(clock.monotonic()))
    clock.call_later(3.0, lambda: fired.append(clock.monotonic()))
    await clock.advance(2.0)
    assert fired == [1.0]
    assert clock.monotonic() == 2.0
    await clock.advance(5.0)
    assert fired == [1.0, 3.0]
    assert clock.monotonic() == 7.0


async def test_system_clock_timer_fires_and_cancels() -> None:
    clock = SystemClock()
    fired = asyncio.Event()
    cancelled: list[str] = []
    clock.call_later(0.0, fired.set)
    clock.call_later(0.0, lambda: cancelled.append("x")).cancel()
    async with asyncio.timeout(5):
        await fired.wait()
        await clock.sleep(0)
    assert cancelled == []
    assert clock.monotonic() > 0
