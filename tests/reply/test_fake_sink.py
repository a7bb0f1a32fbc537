"""The fake platform enforces what the tests rely on: budgets, limits, and the invariants."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import SinkError, SinkMessageGone, SinkRateLimited
from bot.reply.clock import FakeClock
from tests.fakes.sink import FakePlatform, FakeSink


async def test_budget_is_shared_by_every_sink_of_a_scope(
    platform: FakePlatform, clock: FakeClock
) -> None:
    one = FakeSink(platform, scope="T1", edits_per_minute=60.0, burst=2)
    two = FakeSink(platform, scope="T1", edits_per_minute=60.0, burst=2)
    elsewhere = FakeSink(platform, scope="T2", edits_per_minute=60.0, burst=2)
    first, second = await one.post("a", final=False), await two.post("b", final=False)
    await one.edit(first, "a1", final=False)
    await two.edit(second, "b1", final=False)
    with pytest.raises(SinkRateLimited) as refused:
        await one.edit(first, "a2", final=False)
    assert refused.value.retry_after == pytest.approx(1.0)
    await elsewhere.edit(await elsewhere.post("c", final=False), "c1", final=False)
    await clock.sleep(1.0)
    await one.edit(first, "a2", final=True)
    assert platform.rate_limited == 1
    assert one.messages == {first: "a2"} and two.messages == {second: "b1"}


async def test_limits_and_injected_faults(platform: FakePlatform) -> None:
    sink = FakeSink(platform, max_chars=10)
    with pytest.raises(SinkError, match="50035"):
        await sink.post("x" * 11, final=False)
    with pytest.raises(SinkError, match="empty"):
        await sink.post("", final=False)
    platform.inject(SinkError("boom"), kind="edit")
    message = await sink.post("ok", final=False)
    with pytest.raises(SinkError, match="boom"):
        await sink.edit(message, "ok!", final=False)
    platform.make_gone(message)
    with pytest.raises(SinkMessageGone):
        await sink.edit(message, "ok!", final=False)
    assert platform.messages == {}
    assert platform.violations == ["post of 11 characters"]


async def test_violations_are_recorded(platform: FakePlatform, clock: FakeClock) -> None:
    sink = FakeSink(platform, latency=1.0, burst=10)
    message = await sink.post("hello", final=False)
    await asyncio.gather(
        sink.edit(message, "hello 1", final=False), sink.edit(message, "hello 2", final=True)
    )
    await sink.edit(message, "hello 3", final=True)
    assert any("in flight" in violation for violation in platform.violations)
    assert any("after its final edit" in violation for violation in platform.violations)
    assert platform.problems([message], "hello 3") != []


async def test_problems_reports_inexact_or_unbalanced_replies(platform: FakePlatform) -> None:
    sink = FakeSink(platform, burst=10)
    good = await sink.post("```py\nx = 1\n```", final=True)
    assert platform.problems([good], "```py\nx = 1\n```") == []
    assert "differs" in platform.problems([good], "```py\nx = 2\n```")[0]
    opened = await sink.post("```py\nx = 1\n", final=True)
    closing = await sink.post("y = 2\n```", final=True)
    problems = platform.problems([opened, closing], "```py\nx = 1\ny = 2\n```")
    assert any("fence" in problem or "join" in problem for problem in problems)
    draft = await sink.post("draft", final=False)
    assert any("final" in problem for problem in platform.problems([draft], "draft"))
