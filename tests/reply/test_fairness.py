"""Many streams in one rate scope: no 429s, exact finals, and every stream gets its turn."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bot.reply.clock import FakeClock
from bot.reply.progressive import ProgressiveReply
from bot.reply.scheduler import SAFETY, RateScheduler
from tests.fakes.sink import FakePlatform, FakeSink
from tests.reply.conftest import assert_delivered

SLACK_TIER3 = 50.0  # chat.update per minute per workspace


async def _run_streams(
    clock: FakeClock, replies: list[ProgressiveReply], deltas: int, gap: float
) -> list[str]:
    answers: list[str] = []

    async def stream(index: int, reply: ProgressiveReply) -> None:
        await reply.start()
        await clock.sleep(index * 0.01)
        for step in range(deltas):
            await reply.append(f"s{index}d{step} ")
            await clock.sleep(gap)
        await reply.finish()

    for index in range(len(replies)):
        answers.append("".join(f"s{index}d{step} " for step in range(deltas)))
    async with asyncio.timeout(60):
        await asyncio.gather(*(stream(i, reply) for i, reply in enumerate(replies)))
    return answers


async def test_200_streams_share_a_slack_workspace_without_429s(
    clock: FakeClock, platform: FakePlatform, scheduler: RateScheduler
) -> None:
    sinks = [FakeSink(platform, scope="T1", edits_per_minute=SLACK_TIER3) for _ in range(200)]
    replies = [ProgressiveReply(sink, scheduler, clock) for sink in sinks]
    answers = await _run_streams(clock, replies, deltas=120, gap=5.0)

    assert platform.rate_limited == 0
    for reply, answer in zip(replies, answers, strict=True):
        assert_delivered(platform, reply, answer)

    edits = [call for call in platform.calls if call.kind == "edit" and call.outcome == "ok"]
    owner = {reply.message_ids[0]: index for index, reply in enumerate(replies)}
    served = Counter(owner[call.message_id] for call in edits if not call.final)
    assert min(served[index] for index in range(200)) >= 2, "a stream starved"
    assert max(served.values()) - min(served.values()) <= 1, "turns were not shared evenly"

    first, second = _nth_edit_times(edits, owner, 0), _nth_edit_times(edits, owner, 1)
    assert max(first.values()) < min(second.values()), "a stream got a second turn first"
    budget_interval = 60.0 / (SLACK_TIER3 * SAFETY)
    assert max(first.values()) <= 200 * budget_interval + 1.0


def _nth_edit_times(edits: list, owner: dict[str, int], nth: int) -> dict[int, float]:  # type: ignore[type-arg]
    seen: dict[int, list[float]] = {}
    for call in edits:
        seen.setdefault(owner[call.message_id], []).append(call.started)
    return {index: times[nth] for index, times in seen.items()}


@pytest.mark.parametrize("streams", [1, 3, 12])
async def test_cadence_stretches_with_the_number_of_streams(
    clock: FakeClock, platform: FakePlatform, scheduler: RateScheduler, streams: int
) -> None:
    sinks = [
        FakeSink(platform, scope="W", edits_per_minute=60.0, min_edit_interval=1.0)
        for _ in range(streams)
    ]
    replies = [ProgressiveReply(sink, scheduler, clock) for sink in sinks]
    await _run_streams(clock, replies, deltas=240, gap=0.25)  # one minute of streaming
    intermediate = [
        call
        for call in platform.calls
        if call.kind == "edit" and not call.final and call.outcome == "ok"
    ]
    per_stream = len(intermediate) / streams
    expected = min(60.0, 60.0 * SAFETY / streams)  # own interval or a fair share of the scope
    assert expected * 0.8 <= per_stream <= expected * 1.1 + 1
    assert platform.rate_limited == 0
