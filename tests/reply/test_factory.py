"""ReplyFactory: shared scheduler and clock, custom marks, adopting an existing message."""

from __future__ import annotations

import asyncio

from bot.reply.clock import FakeClock, SystemClock
from bot.reply.factory import ReplyFactory
from bot.reply.progressive import ProgressiveReply
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, FakeSink
from tests.reply.conftest import assert_delivered


async def test_default_factory_runs_on_real_time() -> None:
    factory = ReplyFactory.default()
    assert isinstance(factory.clock, SystemClock)
    platform = FakePlatform(FakeClock())
    reply = factory.create(FakeSink(platform, burst=10, min_edit_interval=0.0))
    assert isinstance(reply, ProgressiveReply)
    async with asyncio.timeout(5):
        await reply.start()
        await reply.append("real time")
        await reply.finish()
    assert_delivered(platform, reply, "real time")


async def test_factory_shares_its_scheduler_and_marks(
    clock: FakeClock, platform: FakePlatform
) -> None:
    factory = ReplyFactory(RateScheduler(clock), clock, indicator=" ⏳", placeholder="Thinking…")
    first = factory.create(FakeSink(platform, scope="W"))
    second = factory.create(FakeSink(platform, scope="W"))
    await first.start()
    assert list(platform.messages.values()) == ["Thinking…"]
    await first.append("one")
    await second.append("two")
    await clock.sleep(0.001)
    assert "one ⏳" in platform.messages.values()
    assert len(factory.scheduler) == 1
    await asyncio.gather(first.finish(), second.finish())
    assert_delivered(platform, first, "one")
    assert_delivered(platform, second, "two")
