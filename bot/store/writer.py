"""SQLite's single writer, shared by this process's writers, with acceptance first.

The store serialises its SQLite write transactions in-process (SQLite's busy handler would
otherwise give up under load). A plain FIFO lock let a new question wait behind every turn
write, usage record and checkpoint already queued, each of which holds the writer across
several event-loop hops (aiosqlite runs on its own thread): under load, admission was starved
by answers in progress. Decision: two queues; a waiting *urgent* writer (``accept``: storing a
new question and its job; ``start_job``: the last write before the request goes out) gets the
writer before any waiting ordinary one (finished answers, usage, checkpoints, settings).
Ordinary writers keep their order among themselves, and are never starved for long: questions
arrive at human rates.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class WriterTurns:
    """``async with turns.hold(urgent=...)``: one holder at a time, urgent waiters first."""

    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if not self._busy:
            self._busy = True
            return
        waiter = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._ordinary).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # the turn was handed over just as we were cancelled
            raise

    def _release(self) -> None:
        """Hand the writer to the next live waiter, urgent ones first, or free it."""
        for queue in (self._urgent, self._ordinary):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._busy = False
