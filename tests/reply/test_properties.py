"""Property tests: whatever the deltas, sizes, fences and faults, the final state is exact."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings, strategies as st

from bot.errors import SinkError, SinkRateLimited
from bot.reply import split
from bot.reply.clock import FakeClock
from bot.reply.progressive import FAILED_MARK, STOPPED_MARK, ProgressiveReply
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, FakeSink, SinkCall, neutralise_mentions
from tests.reply.conftest import assert_delivered, expected_text
from tests.reply.strategies import answers


@dataclass(frozen=True)
class Plan:
    """One randomly drawn streaming scenario."""

    answer: str
    deltas: list[tuple[str, float]]
    close: str
    close_after: int
    max_chars: int
    latency: float
    fault_rate: float
    enforce_per_minute: float | None
    seed: int


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    answer = draw(answers)
    rnd = random.Random(draw(st.integers(0, 2**32)))
    deltas: list[tuple[str, float]] = []
    position = 0
    while position < len(answer):
        size = rnd.choice([1, 3, 8, 40, 400, 2500])
        gap = rnd.choice([0.0, 0.0, 0.02, 0.3, 1.5, 6.0])
        deltas.append((answer[position : position + size], gap))
        position += size
    close = draw(st.sampled_from(["finish", "finish", "fail", "stop"]))
    return Plan(
        answer=answer,
        deltas=deltas,
        close=close,
        close_after=draw(st.integers(0, len(deltas))) if close != "finish" else len(deltas),
        max_chars=draw(st.sampled_from([120, 300, 700, 1000, 2000, 3500])),
        latency=draw(st.sampled_from([0.0, 0.05, 0.6])),
        fault_rate=draw(st.sampled_from([0.0, 0.0, 0.1, 0.3])),
        enforce_per_minute=draw(st.sampled_from([None, None, 20.0])),
        seed=rnd.randrange(2**32),
    )


def _faults(rate: float, seed: int):  # type: ignore[no-untyped-def]
    rnd = random.Random(seed)

    def fault(call: SinkCall) -> BaseException | None:
        if rnd.random() >= rate:
            return None
        if rnd.random() < 0.8:
            return SinkRateLimited(retry_after=rnd.choice([0.0, 0.5, 2.0, 10.0]))
        return SinkError("502 bad gateway")

    return fault


def _with_mark(display: str, mark: str) -> str:
    """The spec for fail/stop: keep the text, close an open code block, then the mark."""
    if not display.strip():
        return mark
    fence = split.state_at_end(display, 0, None)
    close = ("" if display.endswith("\n") else "\n") + fence.chars if fence else ""
    return f"{display}{close}\n\n{mark}"


async def _run(plan: Plan, clock: FakeClock) -> None:
    platform = FakePlatform(clock)
    sink = FakeSink(
        platform,
        max_chars=plan.max_chars,
        latency=plan.latency,
        enforce_per_minute=plan.enforce_per_minute,
    )
    platform.fault = _faults(plan.fault_rate, plan.seed)
    reply = ProgressiveReply(sink, RateScheduler(clock), clock)
    await reply.start()
    for delta, gap in plan.deltas[: plan.close_after]:
        await reply.append(delta)
        if gap:
            await clock.sleep(gap)
    sent = "".join(delta for delta, _ in plan.deltas[: plan.close_after])
    if plan.close == "finish":
        await reply.finish()
        expected = expected_text(sent)
    elif plan.close == "fail":
        await reply.fail("The model stopped answering.")
        expected = _with_mark(
            neutralise_mentions(sent), FAILED_MARK.format(notice="The model stopped answering.")
        )
    else:
        await reply.stop()
        expected = _with_mark(neutralise_mentions(sent), STOPPED_MARK)
    assert reply.delivered
    assert_delivered(platform, reply, expected)
    event(
        f"messages: {min(len(reply.message_ids), 10)}{'+' if len(reply.message_ids) >= 10 else ''}"
    )
    event(f"429s: {'none' if not platform.rate_limited else 'some'}")
    event(f"answer: {'>5k' if len(plan.answer) > 5000 else '<=5k'}")


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(plans())
async def test_final_state_is_exact_whatever_happens(plan: Plan) -> None:
    clock = FakeClock()
    async with asyncio.timeout(60):
        await _run(plan, clock)
        await clock.drained()
    assert asyncio.all_tasks() == {asyncio.current_task()}, "a task outlived its reply"
