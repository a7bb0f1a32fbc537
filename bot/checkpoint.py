"""Checkpoints of streaming answers, so a killed process loses at most the last interval.

One loop per process looks at every live answer twice a second (no task per stream, no
database call unless something changed). An answer is saved (its text so far and the platform
ids of the messages showing it) at once when it shows a new message, and otherwise when its
text has grown for ``INTERVAL`` seconds or by ``CHUNK`` characters. A takeover after a crash
ends the answer on the platform with the checkpointed text (``bot.takeover``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from bot.errors import StoreError
from bot.reply.base import StreamedReply
from bot.store.base import ConversationStore

logger = logging.getLogger(__name__)

POLL = 0.5
INTERVAL = 3.0
CHUNK = 2000


class Streaming(Protocol):
    """What a checkpoint reads from a generation."""

    @property
    def size(self) -> int: ...

    @property
    def text(self) -> str: ...


@dataclass(slots=True)
class _Watched:
    generation: Streaming
    reply: StreamedReply
    size: int = 0
    ids: tuple[str, ...] = ()
    saved_at: float = 0.0


class Checkpoints:
    """Saves live answers' progress at a bounded interval."""

    def __init__(self, store: ConversationStore) -> None:
        self._store = store
        self._live: dict[int, _Watched] = {}
        self._failing = False

    def watch(self, answer_id: int, generation: Streaming, reply: StreamedReply) -> None:
        self._live[answer_id] = _Watched(generation, reply, saved_at=time.monotonic())

    def forget(self, answer_id: int) -> None:
        self._live.pop(answer_id, None)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(POLL)
            await self.save_due()

    async def save_due(self) -> None:
        """Save every live answer that is due now."""
        now = time.monotonic()
        for answer_id, watched in list(self._live.items()):
            ids = tuple(watched.reply.message_ids)
            grown = watched.generation.size - watched.size
            due = ids != watched.ids or (
                grown > 0 and (grown >= CHUNK or now - watched.saved_at >= INTERVAL)
            )
            if due and answer_id in self._live:
                await self._save(answer_id, watched, ids, now)

    async def _save(
        self, answer_id: int, watched: _Watched, ids: tuple[str, ...], now: float
    ) -> None:
        size, text = watched.generation.size, watched.generation.text
        try:
            await self._store.checkpoint(answer_id, text, list(ids))
        except StoreError as exc:
            if not self._failing:
                logger.warning("cannot checkpoint streaming answers: %s", exc)
            self._failing = True
            return
        self._failing = False
        watched.size, watched.ids, watched.saved_at = size, ids, now
