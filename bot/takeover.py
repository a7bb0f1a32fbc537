"""Taking over owed answers from the database, for the platforms this process serves.

An answer stays owed (its job row, ``bot.work``) when the process that accepted it went away.
``Takeover.serve_work`` runs this process's heartbeat and checkpoints (``bot.checkpoint``);
jobs it claims are resumed per conversation, in answer order: a queued one is answered afresh
(``bot.turns``), one that was already streaming is ended on the platform with its checkpointed
text and a restart notice.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bot.checkpoint import Checkpoints
from bot.errors import BotError
from bot.live import Live
from bot.locks import KeyedLocks
from bot.model import ConversationKey, TurnStatus
from bot.reply.base import StreamedReply
from bot.store.base import JOB_QUEUED, ConversationStore, Job, MessageUpdate
from bot.turns import Turn, TurnRunner
from bot.work import WorkKeeper

logger = logging.getLogger(__name__)

INTERRUPTED_NOTICE = "interrupted by a restart; press Regenerate to try again"


@dataclass(frozen=True, slots=True)
class Resume:
    """An interrupted answer's messages on the platform and its checkpointed text."""

    message_ids: list[str]
    text: str


class ReplyRebuilder(Protocol):
    """An adapter's way back to an answer's reply from the ``target`` it stored at acceptance;
    with ``resume``, the reply adopts the messages the interrupted answer already shows. None
    means nobody can be shown the answer any more (a console that went away): it is stored as
    failed without a request to the model."""

    def __call__(
        self, target: Mapping[str, Any], resume: Resume | None, /
    ) -> StreamedReply | None: ...


class Takeover:
    """Keeps this process's leases and resumes the answers other processes left owed."""

    def __init__(
        self,
        store: ConversationStore,
        *,
        live: Live,
        work: WorkKeeper,
        checkpoints: Checkpoints,
        locks: KeyedLocks,
        turns: TurnRunner,
    ) -> None:
        self._store = store
        self._live = live
        self._work = work
        self._checkpoints = checkpoints
        self._locks = locks
        self._turns = turns
        self._rebuilders: dict[str, ReplyRebuilder] = {}
        self._platform_contexts: dict[str, contextvars.Context] = {}
        self._takeovers: set[asyncio.Task[None]] = set()

    def serve_platform(self, platform: str, rebuild: ReplyRebuilder) -> None:
        """``platform`` is connected here: its owed answers may be taken over by this process.

        Taken-over answers run in a copy of the caller's context (``contextvars``), as the
        platform's own handlers do: an adapter may route its requests by context variables
        (the Discord adapter's REST base), which the heartbeat task does not carry.
        """
        self._rebuilders[platform] = rebuild
        self._platform_contexts[platform] = contextvars.copy_context()
        self._work.wake()

    def leave_platform(self, platform: str) -> None:
        self._rebuilders.pop(platform, None)
        self._platform_contexts.pop(platform, None)

    async def serve_work(self) -> None:
        """Until cancelled: renew leases, checkpoint streaming text, take over lapsed work."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._checkpoints.run())
            group.create_task(
                self._work.poll_stops(
                    lambda: bool(self._live.generations), self._live.stop_requested
                )
            )
            group.create_task(
                self._work.run(
                    lambda: list(self._rebuilders), self._take_over, self._live.stop_requested
                )
            )

    async def take_over_now(self) -> None:
        """Run a heartbeat now and wait until every takeover started so far has ended.

        For a front end that runs alone and may exit at once (the console reading a short
        pipe): the answers its killed predecessor owed are closed before it reads input,
        instead of by a heartbeat its own exit would cancel.
        """
        await self._work.beat(list(self._rebuilders), self._take_over, self._live.stop_requested)
        while pending := [task for task in self._takeovers if not task.done()]:
            await asyncio.wait(pending)

    def cancel(self) -> None:
        """Cancel the takeovers still running (shutdown, once live answers are stored)."""
        for task in list(self._takeovers):
            task.cancel()

    def _take_over(self, jobs: list[Job]) -> None:
        if self._live.closing:
            return
        by_key: dict[ConversationKey, list[Job]] = {}
        for job in jobs:
            by_key.setdefault(job.key, []).append(job)
        for key, owed in by_key.items():
            logger.info("conversation %s: taking over %d owed answer(s)", key, len(owed))
            served = self._platform_contexts.get(key.platform)
            task = asyncio.create_task(
                self._resume_all(owed),
                name=f"takeover-{key}",
                context=served.copy() if served is not None else None,
            )
            self._takeovers.add(task)
            task.add_done_callback(self._takeovers.discard)

    async def _resume_all(self, jobs: list[Job]) -> None:
        """Every job joins its conversation's queue at once, in answer order: a question
        accepted while they run waits behind all of them (not only behind the first)."""
        await asyncio.gather(*(self._resume_one(job) for job in jobs))

    async def _resume_one(self, job: Job) -> None:
        try:
            await self._resume(job)
        except BotError as exc:
            logger.warning(
                "conversation %s: answer %d not taken over: %s", job.key, job.answer_id, exc
            )

    async def _resume(self, job: Job) -> None:
        rebuild = self._rebuilders.get(job.key.platform)
        if rebuild is None:
            return
        turn = Turn(job.key, job.answer_id, job.requester, time.perf_counter(), job.supersedes)
        fresh = job.state == JOB_QUEUED or not (job.message_ids or job.text)
        resume = None if fresh else Resume(list(job.message_ids), job.text)
        reply = rebuild(job.target, resume)
        if fresh and reply is not None:
            await self._turns.answer(turn, reply, job.overrides)
            return
        async with self._locks.hold(job.key), self._store.conversation_lock(job.key):
            ids = list(job.message_ids)
            if reply is not None:
                try:
                    await reply.fail(INTERRUPTED_NOTICE)
                except BotError as exc:
                    logger.warning("could not end interrupted answer %d: %s", job.answer_id, exc)
                ids = reply.message_ids or ids
            update = MessageUpdate(
                content=job.text, status=TurnStatus.FAILED, platform_message_ids=ids
            )
            await self._turns.finish(turn, update)
            self._turns.count(job.key, TurnStatus.FAILED)
            logger.info("conversation %s: ended interrupted answer %d", job.key, job.answer_id)


__all__ = ["INTERRUPTED_NOTICE", "ReplyRebuilder", "Resume", "Takeover"]
