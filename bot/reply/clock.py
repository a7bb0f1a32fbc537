"""Time, injected: ``SystemClock`` in production, ``FakeClock`` (virtual time) in tests.

Everything in ``bot.reply`` that waits does so through a ``Clock``, so tests and benchmarks can
run minutes of rate-limited streaming in milliseconds and get the same result every run.

``FakeClock`` keeps a heap of virtual timers. With ``auto_advance`` (the default) a small driver
task jumps virtual time to the next timer whenever the event loop has nothing else ready to run,
the way trio's ``MockClock(autojump_threshold=0)`` does; with ``auto_advance=False`` time moves
only through ``await clock.advance(seconds)``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol

# How many loop iterations the FakeClock driver yields, at most, waiting for the loop to go idle
# before it moves time forward (only used when the loop's ready queue cannot be inspected).
_IDLE_SPINS = 64


class Timer(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time, sleeping, and cancellable timers."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` (in the running event loop) after ``delay`` seconds."""
        ...


class SystemClock:
    """Real time: ``time.monotonic`` and the running event loop's timers."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


class FakeTimer:
    """One virtual timer in a ``FakeClock``."""

    __slots__ = ("callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[], None]) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: FakeTimer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class FakeClock:
    """Deterministic virtual time for tests and benchmarks.

    Timers due at the same instant fire in the order they were scheduled. Between firings every
    task that became ready runs first, so one test run always produces the same sequence.
    """

    def __init__(self, start: float = 0.0, *, auto_advance: bool = True) -> None:
        self._now = start
        self._auto = auto_advance
        self._timers: list[FakeTimer] = []
        self._seq = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later(seconds, lambda: _resolve(future))
        try:
            await future
        finally:
            timer.cancel()

    def call_later(self, delay: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self._now + max(0.0, delay), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        if self._auto:
            self._ensure_driver()
        return timer

    @property
    def pending(self) -> int:
        """How many live (not cancelled) timers are waiting."""
        return sum(1 for timer in self._timers if not timer.cancelled)

    async def drained(self) -> None:
        """Wait until every timer has fired or been cancelled (the driver has stopped)."""
        while self._driver is not None and not self._driver.done():
            await asyncio.shield(self._driver)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due timers in order and letting tasks run."""
        target = self._now + max(0.0, seconds)
        await _settle()
        while self._fire_next(target):
            await _settle()
        self._now = max(self._now, target)

    def _fire_next(self, limit: float | None) -> bool:
        """Fire the earliest live timer if it is due by ``limit``; False if there is none."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        if not self._timers or (limit is not None and self._timers[0].when > limit):
            return False
        timer = heapq.heappop(self._timers)
        self._now = max(self._now, timer.when)
        timer.callback()
        return True

    def _ensure_driver(self) -> None:
        if self._driver is not None and not self._driver.done():
            return
        self._driver = asyncio.get_running_loop().create_task(self._drive(), name="fake-clock")

    async def _drive(self) -> None:
        """Jump to the next timer whenever nothing else in the loop is ready to run."""
        while True:
            await _settle()
            if not self._fire_next(None):
                return


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def wait_event(clock: Clock, event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` of ``clock`` pass; whether it is set."""
    if event.is_set() or seconds <= 0:
        return event.is_set()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    timer = clock.call_later(seconds, lambda: _resolve(done))
    waiter = loop.create_task(event.wait())
    waiter.add_done_callback(lambda _: _resolve(done))
    try:
        await done
    finally:
        timer.cancel()
        waiter.cancel()
    return event.is_set()


async def _settle() -> None:
    """Yield until no other callback is ready in the running loop (bounded)."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    for _ in range(_IDLE_SPINS if ready is None else 1_000_000):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            return
