"""429s and exact finals: 200 streams in one Slack workspace, on virtual time.

Every stream is a ``ProgressiveReply`` with the Slack adapter's limits (``sink_limits``: message
size, planned ``chat.update`` rate, burst, edit interval) writing to a ``FakeSink`` that
*enforces* Tier 3, 50 ``chat.update`` calls per minute for the whole workspace, answering a
429 with ``Retry-After`` beyond it; each call takes 50 ms. Answers (seeded, 200–9,000
characters, prose with code fences, some over the message limit so they roll over) stream in
deltas of 1–12 characters, 20–60 per second, starting over the first 30 seconds. ``FakeClock``
makes the ~minutes of platform time take seconds.

Measured: 429s the platform answered; finals equal, character for character, to the sanitised
answer (messages joined with their fence markers removed); platform invariant violations; and,
for the record, how long first deltas and finals waited for the workspace's budget.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.report import Options, Row, count, make_row, percentile
from benchmarks.texts import mixed_answer
from bot.reply.base import SinkLimits
from bot.reply.clock import FakeClock
from bot.reply.factory import ReplyFactory
from bot.reply.progressive import EMPTY_ANSWER
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, FakeSink

NAME = "rate_limits"
TIER3_PER_MINUTE = 50.0
CALL_LATENCY = 0.05
WORKSPACE = "T-bench"
Sanitizer = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Plan:
    streams: int
    spread: float
    max_chars: int


FULL = Plan(streams=200, spread=30.0, max_chars=9_000)
QUICK = Plan(streams=12, spread=5.0, max_chars=4_000)


@dataclass
class _Stream:
    answer: str
    first_wait: float = 0.0
    final_wait: float = 0.0
    exact: bool = False


@dataclass
class _Run:
    streams: list[_Stream] = field(default_factory=list)
    virtual: float = 0.0


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    limits, sanitize = _slack_limits()
    clock = FakeClock()
    platform = FakePlatform(clock)
    factory = ReplyFactory(RateScheduler(clock), clock)
    rng = random.Random(8)
    run = _Run([_Stream(_answer(rng, plan.max_chars)) for _ in range(plan.streams)])
    wall = time.perf_counter()
    tasks = [
        _play(clock, platform, factory, limits, sanitize, stream, i * plan.spread / plan.streams)
        for i, stream in enumerate(run.streams)
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
    run.virtual = clock.monotonic()
    return [_row(plan, run, platform, limits, time.perf_counter() - wall)]


def _slack_limits() -> tuple[SinkLimits, Sanitizer]:
    from adapters.slack.sink import sink_limits
    from adapters.slack.text import sanitize

    return sink_limits(WORKSPACE), sanitize


async def _play(
    clock: FakeClock,
    platform: FakePlatform,
    factory: ReplyFactory,
    limits: SinkLimits,
    sanitize: Sanitizer,
    stream: _Stream,
    delay: float,
) -> None:
    sink = _sink(platform, limits, sanitize)
    rng = random.Random(delay)
    await clock.sleep(delay)
    reply = factory.create(sink)
    await reply.start()
    await clock.sleep(rng.uniform(0.2, 1.5))
    first_at = clock.monotonic()
    for piece in _pieces(rng, stream.answer):
        await reply.append(piece)
        await clock.sleep(1 / rng.uniform(20, 60))
    finishing = clock.monotonic()
    await reply.finish()
    stream.final_wait = clock.monotonic() - finishing
    expected = sanitize(stream.answer) if stream.answer.strip() else EMPTY_ANSWER
    stream.exact = platform.joined(reply.message_ids) == expected
    stream.first_wait = _first_shown(platform, reply.message_ids[0], factory.placeholder) - first_at


def _first_shown(platform: FakePlatform, message_id: str, placeholder: str) -> float:
    """When the platform first accepted a text other than the placeholder for ``message_id``."""
    shown = [c.started for c in platform.calls_for(message_id) if c.outcome == "ok"]
    texts = [c.text for c in platform.calls_for(message_id) if c.outcome == "ok"]
    return next((at for at, text in zip(shown, texts, strict=True) if text != placeholder), 0.0)


def _sink(platform: FakePlatform, limits: SinkLimits, sanitize: Sanitizer) -> FakeSink:
    return FakeSink(
        platform,
        scope=limits.rate_scope,
        max_chars=limits.max_chars,
        edits_per_minute=limits.edits_per_minute,
        burst=limits.burst,
        min_edit_interval=limits.min_edit_interval,
        enforce_per_minute=TIER3_PER_MINUTE,
        enforce_burst=limits.burst,
        latency=CALL_LATENCY,
        sanitizer=sanitize,
    )


def _pieces(rng: random.Random, text: str) -> list[str]:
    pieces, at = [], 0
    while at < len(text):
        size = rng.randint(1, 12)
        pieces.append(text[at : at + size])
        at += size
    return pieces


def _answer(rng: random.Random, max_chars: int) -> str:
    return mixed_answer(
        rng,
        rng.randint(200, max_chars),
        words=WORDS,
        code_share=0.25,
        code_line=lambda n: f"    value_{n} = compute({n}, {n * 3})",
        max_lines=40,
    )


PROSE = (
    "the answer streams into the thread while the model writes and every edit shares one "
    "budget per workspace so nobody starves and the final text is exact <!here> @channel"
)
WORDS = tuple(PROSE.split())


def _row(plan: Plan, run: _Run, platform: FakePlatform, limits: SinkLimits, wall: float) -> Row:
    exact = sum(stream.exact for stream in run.streams)
    firsts = [stream.first_wait for stream in run.streams]
    finals = [stream.final_wait for stream in run.streams]
    edits = platform.count("edit")
    ok = platform.rate_limited == 0 and exact == plan.streams and not platform.violations
    measured = f"{platform.rate_limited} 429s; {exact}/{plan.streams} finals exact"
    conditions = (
        f"{plan.streams} streams (answers {count(min(map(len, (s.answer for s in run.streams))))}–"
        f"{count(max(len(s.answer) for s in run.streams))} chars, code fences, rollover at "
        f"{count(limits.max_chars)}) starting over {plan.spread:.0f} s in one workspace; the fake "
        f"enforces chat.update {TIER3_PER_MINUTE:.0f}/min, burst {limits.burst} (the bot plans "
        f"{limits.edits_per_minute:g}/min), {CALL_LATENCY * 1000:.0f} ms per call; virtual time "
        f"(FakeClock): {run.virtual / 60:.1f} min of platform time in {wall:.1f} s; {edits} edits; "
        f"{len(platform.violations)} platform violations; budget waits (virtual): first delta → "
        f"shown p50 {percentile(firsts, 50):.1f} s / p99 {percentile(firsts, 99):.1f} s, "
        f"finish → final shown p50 {percentile(finals, 50):.1f} s / max {max(finals):.1f} s"
    )
    return make_row(NAME, measured, ok, conditions)
