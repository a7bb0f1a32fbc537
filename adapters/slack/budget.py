"""Token buckets for the native stream methods, shared per workspace.

``chat.startStream``/``chat.stopStream`` are Tier 2 (~20/min) and ``chat.appendStream`` Tier 4
(~100/min), per workspace. Streams take tokens here before calling; a 429 pauses the whole
bucket for ``Retry-After``. Nothing here sleeps: callers ask how long to wait and decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

START_STOP_PER_MINUTE = 18.0
START_STOP_BURST = 6
APPEND_PER_MINUTE = 90.0
APPEND_BURST = 10


class RateBudget:
    """A token bucket: ``per_minute`` tokens refill continuously, at most ``burst`` saved."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = 0.0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        return now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 if one is available now)."""
        now = self._refill()
        paused = max(0.0, self._paused_until - now)
        missing = max(0.0, 1.0 - self._tokens) / self._rate if self._rate > 0 else float("inf")
        return max(paused, missing)

    def try_take(self) -> bool:
        """Take a token if one is available now."""
        if self.wait_time() > 0:
            return False
        self._tokens -= 1.0
        return True

    def pause(self, seconds: float) -> None:
        """Slack said 429: nobody in this bucket calls for ``seconds``."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))


@dataclass(slots=True)
class StreamBudgets:
    """The native-stream buckets of every workspace this process serves."""

    clock: Callable[[], float] = time.monotonic
    _start_stop: dict[str, RateBudget] = field(default_factory=dict)
    _append: dict[str, RateBudget] = field(default_factory=dict)

    def start_stop(self, workspace: str) -> RateBudget:
        if workspace not in self._start_stop:
            budget = RateBudget(START_STOP_PER_MINUTE, START_STOP_BURST, self.clock)
            self._start_stop[workspace] = budget
        return self._start_stop[workspace]

    def append(self, workspace: str) -> RateBudget:
        if workspace not in self._append:
            self._append[workspace] = RateBudget(APPEND_PER_MINUTE, APPEND_BURST, self.clock)
        return self._append[workspace]
