"""First delta received → first edit sent, on real time, many streams sharing one rate scope.

Streams arrive evenly over ``spread`` seconds; each posts its placeholder (``start``), waits a
model's time to first token, appends a first delta carrying a unique marker, then keeps
appending a delta every ``interval`` seconds and finishes. A sample is the time from
``reply.append(first)`` to the sink's ``edit``/``post`` call whose text first carries the
marker. All streams share one scope whose budget is larger than their demand (the scope is
not the bottleneck here: this measures the bot's own path, append → flusher → scheduler →
sink). How first deltas fare when the budget is exhausted is part of the ``rate_limits`` row.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from benchmarks.report import Options, Row, count, make_row, ms, percentile
from bot.reply.clock import SystemClock
from bot.reply.factory import ReplyFactory
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, FakeSink

NAME = "first_edit"
GOAL_SECONDS = 0.050
SCOPE = "bench:one-scope"
EDITS_PER_MINUTE = 240_000.0
BURST = 200


@dataclass(frozen=True, slots=True)
class Plan:
    streams: int
    spread: float
    deltas: int
    interval: float
    first_token: float = 0.3

    @property
    def concurrency(self) -> float:
        return self.streams / self.spread * (self.first_token + self.deltas * self.interval)


FULL = Plan(streams=2_000, spread=20.0, deltas=100, interval=0.05)
QUICK = Plan(streams=100, spread=1.0, deltas=20, interval=0.02)


class TimedSink(FakeSink):
    """A ``FakeSink`` that notes when a text carrying ``marker`` first reaches it."""

    def __init__(self, platform: FakePlatform, marker: str) -> None:
        super().__init__(
            platform,
            scope=SCOPE,
            max_chars=2000,
            edits_per_minute=EDITS_PER_MINUTE,
            burst=BURST,
        )
        self.marker = marker
        self.shown_at: float | None = None

    async def post(self, text: str, *, final: bool, last: bool = False) -> str:
        self._note(text)
        return await super().post(text, final=final, last=last)

    async def edit(self, message_id: str, text: str, *, final: bool, last: bool = False) -> None:
        self._note(text)
        await super().edit(message_id, text, final=final, last=last)

    def _note(self, text: str) -> None:
        if self.shown_at is None and self.marker in text:
            self.shown_at = time.perf_counter()


@dataclass
class _Run:
    open: int = 0
    samples: list[float] = field(default_factory=list)
    concurrency: list[int] = field(default_factory=list)
    unseen: int = 0


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    clock = SystemClock()
    factory = ReplyFactory(RateScheduler(clock), clock)
    platform = FakePlatform(clock)
    run = _Run()
    start = time.perf_counter()
    streams = [_stream(plan, factory, platform, run, start, i) for i in range(plan.streams)]
    await asyncio.wait_for(asyncio.gather(*streams), timeout=plan.spread + 120)
    return [_row(plan, run, platform)]


async def _stream(
    plan: Plan, factory: ReplyFactory, platform: FakePlatform, run: _Run, start: float, i: int
) -> None:
    await asyncio.sleep(start + i * plan.spread / plan.streams - time.perf_counter())
    sink = TimedSink(platform, f"⟦{i}⟧")
    reply = factory.create(sink)
    run.open += 1
    await reply.start()
    await asyncio.sleep(plan.first_token)
    run.concurrency.append(run.open)
    appended = time.perf_counter()
    await reply.append(f"{sink.marker} The answer begins")
    for _ in range(plan.deltas - 1):
        await asyncio.sleep(plan.interval)
        await reply.append(" and grows")
    await reply.finish()
    run.open -= 1
    if sink.shown_at is None:
        run.unseen += 1
    else:
        run.samples.append(sink.shown_at - appended)


def _row(plan: Plan, run: _Run, platform: FakePlatform) -> Row:
    p99 = percentile(run.samples, 99)
    conditions = (
        f"{count(plan.streams)} streams arriving at {count(plan.streams / plan.spread)}/s into one "
        f"scope, {count(percentile(run.concurrency, 50))} open at once (median), each appending "
        f"{plan.deltas} deltas every {plan.interval * 1000:.0f} ms; ProgressiveReply + "
        f"RateScheduler on real time, in-memory FakeSink; scope budget "
        f"{count(EDITS_PER_MINUTE)}/min (not exhausted: {platform.rate_limited} 429s); "
        f"max {ms(max(run.samples, default=0))}"
        + (f"; {run.unseen} first deltas never shown" if run.unseen else "")
    )
    ok = bool(run.samples) and p99 < GOAL_SECONDS and run.unseen == 0
    measured = f"p50 {ms(percentile(run.samples, 50))} / p99 {ms(p99)}"
    return make_row(NAME, measured, ok, conditions)
