"""Rate-limited log lines: at most one line per kind per interval, with a count of the rest.

Anyone on the internet can post junk to a public endpoint, and Slack itself repeats some
notices (``app_rate_limited`` every minute while a workspace is over its limit). Each such line
is logged through ``RateLimitedLog``: the first of a kind is written at once, later ones within
``interval`` seconds are only counted, and the next line written for that kind says how many
were held back. Kinds are short fixed names chosen by the caller (never request content).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

DEFAULT_INTERVAL = 60.0
MAX_KINDS = 64
MAX_TEXT = 160


class RateLimitedLog:
    """Writes to ``logger``, at most one line per kind every ``interval`` seconds."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, kind: str, message: str) -> bool:
        """Log ``message`` at WARNING unless a ``kind`` line was written recently."""
        return self.log(logging.WARNING, kind, message)

    def error(self, kind: str, message: str) -> bool:
        """Log ``message`` at ERROR unless a ``kind`` line was written recently."""
        return self.log(logging.ERROR, kind, message)

    def log(self, level: int, kind: str, message: str) -> bool:
        """Write one line, or count it as held back; True when it was written."""
        if not self._logger.isEnabledFor(level):
            return False
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        self._forget_old(now)
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        suffix = f" (+{held} more like this not logged in the last {self._interval:g} s)"
        self._logger.log(level, "%s%s", message, suffix if held else "")
        return True

    def _forget_old(self, now: float) -> None:
        """Keep the table small: drop kinds whose interval is over and nothing is held."""
        if len(self._last) < MAX_KINDS:
            return
        for kind, last in list(self._last.items()):
            if now - last >= self._interval and not self._held.get(kind):
                del self._last[kind]


def one_line(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` made safe for a single log line: control characters become spaces, cut short."""
    flat = "".join(ch if ch.isprintable() else " " for ch in str(text)[: limit + 1])
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
