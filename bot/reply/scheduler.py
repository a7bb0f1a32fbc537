"""Edit budgets per platform scope, shared fairly by the streams that write in that scope.

A scope (Slack: the workspace, for ``chat.update``; Discord: the channel) gets one token bucket,
created from the first sink's ``SinkLimits``: ``burst`` tokens, refilled at ``SAFETY`` times
``edits_per_minute``. A stream asks for a token with ``acquire`` and gets one when it is its turn:

* closing streams, and requests that make a message final, first, in the order they came;
* then the stream served least recently (a new stream has never been served, so a first delta
  goes before every other open stream), so each stream's cadence stretches evenly as more
  streams share the scope and none starves.

Finals are planned ahead: a stream that shows a message it will still have to edit *owes* a
final edit (``owe``). Interim (non-final) requests leave a token in the bucket for each stream
that owes one (at most ``burst - 1``), so when answers finish together their finals find
tokens waiting instead of queueing behind interim edits; the first text of a message is exempt
(it replaces a placeholder). ``busy()`` says when the scope cannot afford one more streamed
answer: the finals owed exceed what the bucket holds plus what it refills within
``PLAN_HORIZON`` seconds; replies then show answers whole (``SinkLimits.whole_under_load``).

A 429 reported with ``rate_limited`` pauses the whole scope for ``retry_after``, halves its rate
(never below ``MIN_FACTOR``) and every later success gives back ``RECOVERY_STEP`` of it.

One dispatcher task per scope runs only while streams wait; tokens are granted without it when
nobody is queued. Waiting happens in the stream's background flusher, never in ``append``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from dataclasses import dataclass, field

from bot.reply.base import SinkLimits
from bot.reply.clock import Clock

logger = logging.getLogger(__name__)

SAFETY = 0.9
"""Share of the platform's advertised rate we plan for (clock skew, latency jitter)."""

MIN_FACTOR = 0.25
"""Lowest fraction of the planned rate that back-off after 429s goes down to."""

RECOVERY_STEP = 0.05
"""Fraction of the planned rate each successful request gives back after a back-off."""

PLAN_HORIZON = 5.0
"""Seconds of refill counted as available to the finals owed when deciding ``busy``."""
RETRY_AFTER_MARGIN = 0.05
"""Seconds added to every 429's pause (see ``ScopeBudget.rate_limited``)."""

_EPSILON = 1e-6
_PRUNE_AT = 1024


@dataclass(eq=False, slots=True)
class Slot:
    """One stream's place in its scope: when it was last served, and whether it is closing."""

    label: str
    last_served: float = -math.inf
    urgent_since: float | None = None
    not_before: float = 0.0
    deadline: float = math.inf
    seq: int = 0
    owes: bool = False
    final: bool = False
    """The waiting request makes a message final (or is a first text): it may use the
    tokens kept for finals, and goes first."""
    future: asyncio.Future[bool] | None = field(default=None, repr=False)

    def rank(self) -> tuple[int, float, int]:
        if self.urgent_since is not None:
            return (0, self.urgent_since, self.seq)
        if self.final:
            return (0, math.inf, self.seq)
        return (1, self.last_served, self.seq)


class ScopeBudget:
    """The token bucket and wait queue of one rate scope."""

    def __init__(self, limits: SinkLimits, clock: Clock) -> None:
        self.name = limits.rate_scope
        self.limits = limits
        self._clock = clock
        self._capacity = float(max(1, limits.burst))
        self._rate = max(limits.edits_per_minute, 1e-3) / 60.0 * SAFETY
        self._factor = 1.0
        self._tokens = self._capacity
        self._refilled = clock.monotonic()
        self._paused_until = -math.inf
        self._waiting: list[Slot] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._owed = 0
        self.grants = 0
        self.rate_limits = 0

    def slot(self, label: str) -> Slot:
        """A new stream's place in this scope."""
        return Slot(label)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def factor(self) -> float:
        """Current fraction of the planned rate (1.0 unless backing off after 429s)."""
        return self._factor

    def paused_for(self) -> float:
        """Seconds until the scope may send again after a 429 (0 if not paused)."""
        return max(0.0, self._paused_until - self._clock.monotonic())

    @property
    def owed(self) -> int:
        """How many streams show a message they will still have to edit."""
        return self._owed

    def owe(self, slot: Slot, owes: bool) -> None:
        """Record whether ``slot``'s stream owes a final edit (see the module docstring)."""
        if owes != slot.owes:
            slot.owes = owes
            self._owed += 1 if owes else -1
            if not owes and self._waiting:
                self._kick()

    def busy(self, extra: int = 1, horizon: float = PLAN_HORIZON) -> bool:
        """Whether ``extra`` more owed finals would exceed what the scope holds now plus what
        it refills within ``horizon`` seconds."""
        now = self._clock.monotonic()
        self._refill(now)
        paused = max(0.0, self._paused_until - now)
        soon = max(0.0, horizon - paused) * self._rate * self._factor
        return self._owed + extra > self._tokens + soon

    def try_take(self, slot: Slot, *, final: bool = True) -> bool:
        """Take a token now if one is free and nobody waits; never waits."""
        now = self._clock.monotonic()
        if self._waiting or not self._available(now, final=final, slot=slot):
            return False
        self._take(slot, now)
        return True

    async def acquire(
        self,
        slot: Slot,
        *,
        not_before: float = 0.0,
        deadline: float = math.inf,
        final: bool = False,
    ) -> bool:
        """Wait for this slot's turn and a token; False if ``deadline`` passed first.

        ``final=True`` marks a request that makes a message final: it goes before interim ones,
        which leave the tokens kept for the finals other streams owe."""
        now = self._clock.monotonic()
        slot.final = final
        if not self._waiting and not_before <= now and self._available(now, final, slot):
            self._take(slot, now)
            return True
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        slot.future, slot.not_before, slot.deadline = future, not_before, deadline
        slot.seq = next(self._seq)
        self._waiting.append(slot)
        self._kick()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.result():
                self.refund()
            raise
        finally:
            self._remove(slot)

    def promote(self, slot: Slot) -> None:
        """Mark the slot's stream as closing: its requests go first from now on."""
        if slot.urgent_since is None:
            slot.urgent_since = self._clock.monotonic()
        slot.not_before = 0.0
        if slot.future is not None:
            self._kick()

    def refund(self) -> None:
        """Give back a token that was granted but not used."""
        self._tokens = min(self._capacity, self._tokens + 1.0)
        if self._waiting:
            self._kick()

    def rate_limited(self, retry_after: float) -> None:
        """The platform said 429: pause the scope and slow down."""
        now = self._clock.monotonic()
        # A margin past Retry-After: the platform's bucket refills to exactly one token then,
        # and a request sent on that instant can meet a rounding error and a second 429.
        pause = (retry_after if retry_after > 0 else 1.0 / self._rate) + RETRY_AFTER_MARGIN
        self._paused_until = max(self._paused_until, now + pause)
        self._factor = max(MIN_FACTOR, self._factor / 2)
        self._tokens, self._refilled = 1.0, self._paused_until
        self.rate_limits += 1
        logger.info(
            "scope %s rate limited: pausing %.2fs, rate factor %.2f", self.name, pause, self._factor
        )

    def succeeded(self) -> None:
        """A request went through: recover part of the rate lost to back-off."""
        self._factor = min(1.0, self._factor + RECOVERY_STEP)

    def idle(self) -> bool:
        """Nothing queued, not paused, bucket full: forgetting this scope changes nothing."""
        now = self._clock.monotonic()
        self._refill(now)
        return not self._waiting and now >= self._paused_until and self._tokens >= self._capacity

    def _available(self, now: float, final: bool = True, slot: Slot | None = None) -> bool:
        self._refill(now)
        if now < self._paused_until:
            return False
        return self._tokens >= 1.0 + (0.0 if final else self._reserve(slot))

    def _reserve(self, slot: Slot | None) -> float:
        """Tokens an interim request must leave: one per final owed (its own included, since
        it still owes one after the interim edit), never the whole bucket."""
        return float(max(0, min(self._owed, int(self._capacity) - 1)))

    def _refill(self, now: float) -> None:
        elapsed = now - self._refilled
        if elapsed > 0:
            gained = elapsed * self._rate * self._factor
            self._tokens = min(self._capacity, self._tokens + gained)
            self._refilled = now

    def _take(self, slot: Slot, now: float) -> None:
        self._tokens -= 1.0
        slot.last_served = now
        self.grants += 1

    def _remove(self, slot: Slot) -> None:
        if slot.future is not None:
            slot.future = None
            self._waiting.remove(slot)

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._dispatch(), name=f"scope-{self.name}")
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _dispatch(self) -> None:
        while self._waiting:
            delay = self._grant_due(self._clock.monotonic())
            if self._waiting:
                await self._sleep(delay)

    async def _sleep(self, delay: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wake = wake
        timer = self._clock.call_later(delay, lambda: _resolve(wake))
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    def _grant_due(self, now: float) -> float:
        """Grant every request that can go now; return the seconds until the next may."""
        self._expire(now)
        while self._waiting and self._available(now):
            eligible = [slot for slot in self._waiting if slot.not_before <= now]
            if not eligible:
                break
            best = min(eligible, key=Slot.rank)
            if best.urgent_since is None and not self._available(now, best.final, best):
                break  # only interim requests are due, and the tokens left are kept for finals
            self._take(best, now)
            self._resolve(best, True)
        return self._next_change(now)

    def _expire(self, now: float) -> None:
        for slot in [slot for slot in self._waiting if slot.deadline <= now]:
            self._resolve(slot, False)

    def _resolve(self, slot: Slot, granted: bool) -> None:
        future = slot.future
        self._remove(slot)
        if future is not None and not future.done():
            future.set_result(granted)

    def _next_change(self, now: float) -> float:
        if not self._waiting:
            return 0.0
        rate = self._rate * self._factor
        urgent = any(slot.urgent_since is not None or slot.final for slot in self._waiting)
        needed = 1.0 if urgent else 1.0 + min(self._reserve(slot) for slot in self._waiting)
        token_wait = max(0.0, (needed - self._tokens) / rate)
        turn_wait = min(slot.not_before for slot in self._waiting) - now
        pause_wait = self._paused_until - now
        deadline_wait = min(slot.deadline for slot in self._waiting) - now
        return max(_EPSILON, min(max(token_wait, turn_wait, pause_wait), deadline_wait) + _EPSILON)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RateScheduler:
    """All scope budgets of one process; ``scope(limits)`` finds or creates one."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._scopes: dict[str, ScopeBudget] = {}

    def scope(self, limits: SinkLimits) -> ScopeBudget:
        budget = self._scopes.get(limits.rate_scope)
        if budget is None:
            if len(self._scopes) >= _PRUNE_AT:
                self._prune()
            budget = self._scopes[limits.rate_scope] = ScopeBudget(limits, self._clock)
        elif budget.limits != limits:
            logger.debug("scope %s keeps its first limits %s", limits.rate_scope, budget.limits)
        return budget

    def __len__(self) -> int:
        return len(self._scopes)

    def _prune(self) -> None:
        for name in [name for name, budget in self._scopes.items() if budget.idle()]:
            del self._scopes[name]
