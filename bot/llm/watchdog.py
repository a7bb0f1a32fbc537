"""The idle deadline of one streamed answer: one timer per stream, not one per read.

``asyncio.timeout`` around every read schedules and cancels a timer per delta (a heap push, a
``Timeout`` object, a cancelled handle left in the heap). Here a read only notes when it started
waiting (``waiting``) and that it got something (``idle``); a single timer looks at that note
when it comes due and, if the read is still waiting, re-arms itself for the remaining time or,
past the deadline, cancels the reading task, which the caller turns into ``LLMTimeout``
(``expired``). The time the consumer spends between reads is never counted, as before.

The timer fires only while the note says a read is waiting, so the task is then suspended in
that read and the cancellation surfaces there, not in the consumer's code. A cancellation from
elsewhere (Stop, shutdown) stays a cancellation: ``expired`` compares the task's cancel count
with the one it had when the watchdog started, as ``asyncio.timeout`` does.
"""

from __future__ import annotations

import asyncio


class IdleWatchdog:
    """Cancels the current task when one read waits longer than ``seconds``."""

    __slots__ = ("_cancelling", "_handle", "_loop", "_seconds", "_since", "_task", "fired")

    def __init__(self, seconds: float) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("IdleWatchdog needs a running task")
        self._loop = asyncio.get_running_loop()
        self._task = task
        self._cancelling = task.cancelling()
        self._seconds = seconds
        self._since: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self.fired = False

    def waiting(self) -> None:
        """A read starts waiting now."""
        self._since = now = self._loop.time()
        if self._handle is None:
            self._handle = self._loop.call_at(now + self._seconds, self._check)

    def idle(self) -> None:
        """The read got something (or failed): the clock stops until the next ``waiting``."""
        self._since = None

    def expired(self) -> bool:
        """In ``except CancelledError``: whether this watchdog's deadline caused it."""
        return self.fired and self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        self._handle = None
        since = self._since
        if since is None or self.fired:
            return  # not reading: the next ``waiting`` arms a new timer
        due = since + self._seconds
        if self._loop.time() >= due:
            self.fired = True
            self._task.cancel()
        else:
            self._handle = self._loop.call_at(due, self._check)
