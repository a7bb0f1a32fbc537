"""Memory per active stream stays small (design §8: < 50 KB for a typical answer)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import tracemalloc

from bot.reply.base import SinkLimits
from bot.reply.clock import FakeClock
from bot.reply.progressive import ProgressiveReply
from bot.reply.scheduler import RateScheduler


class NullSink:
    """A platform that accepts everything and keeps nothing (so only the reply is measured)."""

    def __init__(self, limits: SinkLimits) -> None:
        self._limits = limits
        self._ids = itertools.count()

    @property
    def limits(self) -> SinkLimits:
        return self._limits

    async def post(self, text: str, *, final: bool, last: bool = False) -> str:
        return str(next(self._ids))

    async def edit(self, message_id: str, text: str, *, final: bool, last: bool = False) -> None:
        return None

    def sanitize(self, text: str) -> str:
        return text


async def test_memory_per_active_stream_is_small() -> None:
    clock = FakeClock()
    scheduler = RateScheduler(clock)
    sink = NullSink(SinkLimits(2000, "T1", 50.0))
    delta = "A typical answer has sentences like this one, about forty tokens. "  # 67 chars
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        replies = [ProgressiveReply(sink, scheduler, clock) for _ in range(200)]
        for reply in replies:
            await reply.start()
        for _ in range(45):  # ~3,000 characters each, spread over two messages
            for reply in replies:
                await reply.append(delta)
            await clock.sleep(2.0)
        gc.collect()
        per_stream = (tracemalloc.get_traced_memory()[0] - before) / len(replies)
    finally:
        tracemalloc.stop()
    assert per_stream < 50_000, f"{per_stream:.0f} bytes per active stream"
    await asyncio.gather(*(reply.finish() for reply in replies))
