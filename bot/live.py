"""What the engine's parts share about this process: the answers in flight, whether it is
closing, and when a database write last failed.

The turn runner (``bot.turns``) registers each generation here while it streams; Stop, Regenerate
and shutdown (``bot.engine``) find it here; acceptance and takeover (``bot.acceptance``,
``bot.takeover``) take no new work once ``closing``; every write that keeps an answer owed goes
through ``write``, so ``ConversationEngine.healthy`` knows when the last one failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from bot.errors import StoreError
from bot.generation import Generation
from bot.model import ConversationKey

_T = TypeVar("_T")


@dataclass(slots=True)
class Live:
    """This process's answers in flight: streaming, waiting for their turn, or settling."""

    generations: dict[int, Generation] = field(default_factory=dict)
    by_key: dict[ConversationKey, int] = field(default_factory=dict)
    closing: bool = False
    waiting: int = 0
    settling: int = 0
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    write_failed_at: float = -1.0

    async def write(self, work: Awaitable[_T]) -> _T:
        """A write whose failure makes the process unhealthy until one succeeds again."""
        try:
            return await work
        except StoreError:
            self.write_failed_at = time.monotonic()
            raise

    def stop_requested(self, answer_ids: list[int]) -> None:
        """Stop those of ``answer_ids`` that stream here (a Stop seen in their job rows)."""
        for answer_id in answer_ids:
            generation = self.generations.get(answer_id)
            if generation is not None:
                generation.request_stop()


__all__ = ["Live"]
