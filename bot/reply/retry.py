"""When one reply retries a refused request, and when it gives up delivering its final state.

While a reply is open it never gives up: refused requests are retried with back-off
(``0.5 s × 2ⁿ``, at most ``MAX_BACKOFF``). Once it is closing, it gives up after
``MAX_FINAL_FAILURES`` failures in a row, after ``RETRY_WINDOW`` seconds of failing, or after
``FINAL_QUEUE_LIMIT`` seconds without progress (no turn in the scope). Each success after
closing completes part of a finite amount of work, so the whole delivery is bounded.
"""

from __future__ import annotations

import math

from bot.reply.clock import Clock

MAX_FINAL_FAILURES = 12
RETRY_WINDOW = 120.0
FINAL_QUEUE_LIMIT = 900.0
MAX_BACKOFF = 30.0


class RetryPolicy:
    """Failure bookkeeping for one reply."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.retry_at = 0.0
        self._failures = 0
        self._first_failure: float | None = None
        self._progress_at = math.inf

    @property
    def closing(self) -> bool:
        return self._progress_at < math.inf

    def close(self) -> None:
        """The reply closed: from now on failures count towards giving up."""
        self._failures, self._first_failure, self.retry_at = 0, None, 0.0
        self._progress_at = self._clock.monotonic()

    def deadline(self) -> float:
        """Latest time to wait for a turn (infinite while the reply is open)."""
        return self._progress_at + FINAL_QUEUE_LIMIT

    def backoff(self) -> float:
        """Seconds to wait after the next failure of a non-rate-limit kind."""
        return min(MAX_BACKOFF, 0.5 * 2.0 ** min(self._failures, 8))

    def succeeded(self) -> None:
        self._failures, self._first_failure = 0, None
        if self.closing:
            self._progress_at = self._clock.monotonic()

    def failed(self, wait: float, *, backoff: bool) -> str | None:
        """Record a failure; return why to give up, or None to retry after ``wait``."""
        now = self._clock.monotonic()
        self._failures += 1
        if self._first_failure is None:
            self._first_failure = now
        if backoff:
            self.retry_at = now + wait
        if not self.closing:
            return None
        if self._failures >= MAX_FINAL_FAILURES:
            return f"{self._failures} failures in a row"
        if now + wait - self._first_failure > RETRY_WINDOW:
            return f"still failing after {RETRY_WINDOW:.0f}s"
        return None
