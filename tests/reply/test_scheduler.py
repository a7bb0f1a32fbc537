"""The per-scope token bucket: fast path, fair turns, finals first, 429 pause and recovery."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bot.reply.base import SinkLimits
from bot.reply.clock import FakeClock
from bot.reply.scheduler import MIN_FACTOR, RETRY_AFTER_MARGIN, SAFETY, RateScheduler, Slot

SLACK = SinkLimits(max_chars=3500, rate_scope="T1", edits_per_minute=60.0, burst=1)
INTERVAL = 1.0 / SAFETY  # seconds per token at 60/min


def test_one_budget_per_scope(scheduler: RateScheduler) -> None:
    first = scheduler.scope(SLACK)
    assert scheduler.scope(SLACK) is first
    other = scheduler.scope(SinkLimits(2000, "channel-9", 5.0))
    assert other is not first and len(scheduler) == 2


async def test_free_token_is_granted_at_once(scheduler: RateScheduler, clock: FakeClock) -> None:
    scope = scheduler.scope(SLACK)
    assert await scope.acquire(scope.slot("a"))
    assert clock.monotonic() == 0.0
    assert await scope.acquire(scope.slot("a"))
    assert clock.monotonic() == pytest.approx(INTERVAL, abs=1e-3)


async def test_least_recently_served_goes_first(scheduler: RateScheduler, clock: FakeClock) -> None:
    scope = scheduler.scope(SLACK)
    veteran, newcomer = scope.slot("veteran"), scope.slot("newcomer")
    assert await scope.acquire(veteran)  # drains the bucket
    order: list[str] = []

    async def want(slot_name: str, slot: Slot) -> None:
        assert await scope.acquire(slot)
        order.append(slot_name)

    await asyncio.gather(want("veteran", veteran), want("newcomer", newcomer))
    assert order == ["newcomer", "veteran"]


async def test_closing_streams_go_first(scheduler: RateScheduler, clock: FakeClock) -> None:
    scope = scheduler.scope(SLACK)
    assert await scope.acquire(scope.slot("drain"))
    slots = {name: scope.slot(name) for name in ("open1", "open2", "closing")}
    order: list[str] = []

    async def want(name: str) -> None:
        assert await scope.acquire(slots[name])
        order.append(name)

    tasks = [asyncio.create_task(want(name)) for name in slots]
    await asyncio.sleep(0)
    scope.promote(slots["closing"])
    await asyncio.gather(*tasks)
    assert order[0] == "closing"


async def test_round_robin_stretches_cadence(scheduler: RateScheduler, clock: FakeClock) -> None:
    scope = scheduler.scope(SLACK)
    served: dict[str, list[float]] = {name: [] for name in "abcd"}

    async def stream(name: str) -> None:
        slot = scope.slot(name)
        for _ in range(5):
            assert await scope.acquire(slot)
            served[name].append(clock.monotonic())

    await asyncio.gather(*(stream(name) for name in served))
    assert all(len(times) == 5 for times in served.values())
    for times in served.values():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap == pytest.approx(4 * INTERVAL, abs=1e-3) for gap in gaps)


async def test_not_before_delays_only_that_slot(scheduler: RateScheduler, clock: FakeClock) -> None:
    scope = scheduler.scope(SinkLimits(2000, "c", 600.0, burst=5))
    order: list[str] = []

    async def want(name: str, not_before: float) -> None:
        assert await scope.acquire(scope.slot(name), not_before=not_before)
        order.append(f"{name}@{clock.monotonic():.0f}")

    await asyncio.gather(want("paced", 3.0), want("free", 0.0))
    assert order == ["free@0", "paced@3"]


async def test_rate_limit_pauses_scope_and_backs_off(
    scheduler: RateScheduler, clock: FakeClock
) -> None:
    scope = scheduler.scope(SLACK)
    slot = scope.slot("a")
    assert await scope.acquire(slot)
    scope.rate_limited(retry_after=30.0)
    pause = 30.0 + RETRY_AFTER_MARGIN  # Retry-After, then a margin past the refill instant
    assert scope.factor == 0.5 and scope.paused_for() == pytest.approx(pause)
    assert await scope.acquire(slot)
    assert clock.monotonic() == pytest.approx(pause)
    assert await scope.acquire(slot)
    assert clock.monotonic() == pytest.approx(pause + 2 * INTERVAL, abs=1e-3)
    for _ in range(10):
        scope.rate_limited(retry_after=0.0)
    assert scope.factor == MIN_FACTOR
    for _ in range(100):
        scope.succeeded()
    assert scope.factor == 1.0
    assert scope.rate_limits == 11


async def test_deadline_gives_up(scheduler: RateScheduler, clock: FakeClock) -> None:
    scope = scheduler.scope(SLACK)
    assert await scope.acquire(scope.slot("a"))
    scope.rate_limited(retry_after=500.0)
    assert not await scope.acquire(scope.slot("b"), deadline=10.0)
    assert clock.monotonic() == pytest.approx(10.0, abs=1e-3)
    assert scope.waiting == 0


async def test_cancelled_waiter_leaves_the_queue(
    scheduler: RateScheduler, clock: FakeClock
) -> None:
    scope = scheduler.scope(SLACK)
    assert await scope.acquire(scope.slot("a"))
    task = asyncio.create_task(scope.acquire(scope.slot("b")))
    await asyncio.sleep(0)
    assert scope.waiting == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert scope.waiting == 0
    assert await scope.acquire(scope.slot("c"))


def test_idle_scopes_are_pruned_busy_ones_kept(clock: FakeClock) -> None:
    scheduler = RateScheduler(clock)
    busy = scheduler.scope(SinkLimits(2000, "busy", 5.0))
    busy.rate_limited(retry_after=60.0)
    for index in range(1100):
        scheduler.scope(SinkLimits(2000, f"channel-{index}", 5.0))
    assert len(scheduler) < 100
    assert scheduler.scope(SinkLimits(2000, "busy", 5.0)) is busy
