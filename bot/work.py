"""Leases on owed answers: this process's claim on its work, and the takeover of the rest.

Every accepted answer has a row in ``answer_jobs`` owned by the process that accepted it, with
a lease. ``WorkKeeper.run`` is that process's heartbeat: it renews the leases it holds (and
learns which of its answers someone asked to stop on another replica), and claims jobs whose
lease lapsed (their process died: ``kill -9``, OOM, a host gone) or was given up at shutdown,
for the platforms this process serves. A live process's work is never taken: its leases are
renewed every ``lease / 3`` seconds.

SQLite serves one process, so at start that process also takes every job it does not own
without waiting for the leases to lapse (the previous process is gone). PostgreSQL replicas
wait for the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.errors import StoreError
from bot.store.base import ConversationStore, Job, JobSpec
from bot.store.tables import utc_now

logger = logging.getLogger(__name__)

CLAIM_BATCH = 100
STOP_POLL = 1.0
DEFAULT_LEASE_SECONDS = 30.0


class WorkKeeper:
    """Holds, renews and takes over leases for one process."""

    def __init__(
        self,
        store: ConversationStore,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        single_process: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._store = store
        self._lease = timedelta(seconds=lease_seconds)
        self._single = single_process
        self._clock = clock
        self._skew = timedelta(0)
        """The database's clock minus ours, learnt at every heartbeat: every lease is set and
        compared on the database's clock, so replicas on hosts whose clocks differ never take
        each other's live work."""
        self._swept: set[str] = set()
        self._wake = asyncio.Event()
        self._beating = asyncio.Lock()
        self.healthy = True
        self.last_ok = time.monotonic()
        """When a heartbeat (a database write) last succeeded."""

    @property
    def heartbeat(self) -> float:
        return max(0.2, self._lease.total_seconds() / 3)

    def spec(
        self,
        target: dict[str, Any],
        requester: str,
        overrides: dict[str, Any] | None = None,
        supersedes: int | None = None,
    ) -> JobSpec:
        """The job row for an answer this process accepts now."""
        return JobSpec(
            owner=self.owner,
            lease_until=self._now() + self._lease,
            target=dict(target),
            requester=requester,
            overrides=dict(overrides or {}),
            supersedes=supersedes,
        )

    def wake(self) -> None:
        """Run a heartbeat now (a platform just became ready to take work over)."""
        self._wake.set()

    async def run(
        self,
        platforms: Callable[[], Sequence[str]],
        take_over: Callable[[list[Job]], None],
        stop: Callable[[list[int]], None],
    ) -> None:
        """Heartbeat until cancelled: renew, learn stop requests, claim lapsed jobs."""
        while True:
            self._wake.clear()
            await self.beat(platforms(), take_over, stop)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.heartbeat)

    async def beat(
        self,
        platforms: Sequence[str],
        take_over: Callable[[list[Job]], None],
        stop: Callable[[list[int]], None],
    ) -> None:
        """One heartbeat. Beats never overlap (``run`` and ``ConversationEngine.take_over_now``
        may both beat), so once a beat returns, every job claimed so far is handed over."""
        async with self._beating:
            await self._beat(platforms, take_over, stop)

    async def _beat(
        self,
        platforms: Sequence[str],
        take_over: Callable[[list[Job]], None],
        stop: Callable[[list[int]], None],
    ) -> None:
        try:
            self._skew = await self._store.database_now() - self._clock()
            until = self._now() + self._lease
            stop(await self._store.renew_leases(self.owner, until))
            if platforms:
                take_over(await self._claim(platforms, until))
        except StoreError as exc:
            if self.healthy:
                logger.warning("cannot renew or claim answer leases: %s", exc)
            self.healthy = False
            return
        if not self.healthy:
            logger.info("answer leases renewed again")
        self.healthy = True
        self.last_ok = time.monotonic()

    async def _claim(self, platforms: Sequence[str], until: datetime) -> list[Job]:
        fresh = [p for p in platforms if p not in self._swept] if self._single else []
        claimed: list[Job] = []
        if fresh:
            claimed += await self._store.claim_jobs(
                self.owner, until, fresh, any_owner=True, limit=CLAIM_BATCH, now=self._now()
            )
            self._swept.update(fresh)
        claimed += await self._store.claim_jobs(
            self.owner, until, platforms, any_owner=False, limit=CLAIM_BATCH, now=self._now()
        )
        return claimed

    def _now(self) -> datetime:
        return self._clock() + self._skew

    async def poll_stops(self, live: Callable[[], bool], stop: Callable[[list[int]], None]) -> None:
        """Until cancelled: while this process streams answers, read their stop flags every
        ``STOP_POLL`` seconds, so a Stop clicked on another replica acts within about a second
        instead of a heartbeat. (A single-process database never needs it: the click arrives
        where the answer streams.)"""
        if self._single:
            return
        while True:
            await asyncio.sleep(STOP_POLL)
            if live():
                with contextlib.suppress(StoreError):
                    stop(await self._store.stop_requests(self.owner))

    async def release(self) -> None:
        """Give up every lease at once (shutdown): queued answers go to the next process.

        If the database is away this is logged at info level only: the leases then lapse on
        their own (the next start or another replica takes them a lease later), and a console
        that already said the database failed prints nothing more."""
        try:
            released = await self._store.release_jobs(self.owner)
        except StoreError as exc:
            logger.info("could not release answer leases at shutdown (they will lapse): %s", exc)
            return
        if released:
            logger.info("left %d queued answer(s) for the next start or another replica", released)
