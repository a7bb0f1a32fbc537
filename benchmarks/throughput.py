"""Answers finished per minute in one Slack workspace, under its documented budgets, on virtual
time.

600 questions (``--quick``: 60) are queued at once, spread round-robin over 10 channels; each
is a mention, so each answer is its own thread. As in ``threadline run``, at most
``MAX_CONCURRENT_GENERATIONS`` (32) answers are generated at once, the rest wait in order. The
model (seeded) takes 0.5 s to its first token and then streams 8-character deltas at 100 tokens
(400 characters) a second; answers are 200–2,000 characters of prose and code, one in four
3,000–6,000 (long enough to continue in a second message).

Every answer is a ``ProgressiveReply`` with the Slack adapter's ``sink_limits`` (what the bot
plans: ``chat.update`` 40/min burst 8 per workspace, ``chat.postMessage`` 60/min burst 3 per
channel, whole answers under load) writing to a ``FakeSink`` that *enforces* the documented
budgets: ``chat.update`` Tier 3, 50/min burst 8 per workspace, and ``chat.postMessage`` 1/s per
channel (burst 3), answering a 429 beyond them; each call takes 50 ms.

Measured: answers finished per minute (600 over the virtual time from the first question to
the last final), 429s, finals exact (messages joined equal the sanitised answer), accept →
final latency, and how the answers were shown (streamed with edits, or posted whole).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from benchmarks.report import Options, Row, count, make_row, percentile
from benchmarks.texts import mixed_answer
from bot.reply.clock import FakeClock
from bot.reply.factory import ReplyFactory
from bot.reply.progressive import EMPTY_ANSWER
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, FakeSink

NAME = "throughput"
GOAL_PER_MINUTE = 150.0
WORKSPACE = "T-bench"
TIER3_PER_MINUTE = 50.0
TIER3_BURST = 8
POSTS_PER_MINUTE = 60.0
POST_BURST = 3
CALL_LATENCY = 0.05
CONCURRENCY = 32
FIRST_TOKEN = 0.5
CHARS_PER_SECOND = 400.0
DELTA = 8


@dataclass(frozen=True, slots=True)
class Plan:
    questions: int
    channels: int


FULL = Plan(questions=600, channels=10)
QUICK = Plan(questions=60, channels=10)


@dataclass
class _Answer:
    channel: str
    text: str
    finished_at: float = 0.0
    exact: bool = False
    edits: int = 0
    messages: int = 0


@dataclass
class _Run:
    answers: list[_Answer] = field(default_factory=list)
    virtual: float = 0.0


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    clock = FakeClock()
    platform = FakePlatform(clock)
    factory = ReplyFactory(RateScheduler(clock), clock)
    rng = random.Random(150)
    run = _Run([_Answer(f"C{i % plan.channels:02d}", _answer(rng)) for i in range(plan.questions)])
    gate = asyncio.Semaphore(CONCURRENCY)
    wall = time.perf_counter()
    tasks = [_play(clock, platform, factory, gate, answer) for answer in run.answers]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
    run.virtual = max(answer.finished_at for answer in run.answers)
    return [_row(plan, run, platform, time.perf_counter() - wall)]


async def _play(
    clock: FakeClock,
    platform: FakePlatform,
    factory: ReplyFactory,
    gate: asyncio.Semaphore,
    answer: _Answer,
) -> None:
    from adapters.slack.text import sanitize

    async with gate:
        sink = _sink(platform, answer.channel)
        reply = factory.create(sink)
        await reply.start()
        await clock.sleep(FIRST_TOKEN)
        for at in range(0, len(answer.text), DELTA):
            await reply.append(answer.text[at : at + DELTA])
            await clock.sleep(DELTA / CHARS_PER_SECOND)
        await reply.finish()
    answer.finished_at = clock.monotonic()
    expected = sanitize(answer.text) if answer.text.strip() else EMPTY_ANSWER
    answer.exact = platform.joined(reply.message_ids) == expected and not platform.problems(
        reply.message_ids, expected
    )
    answer.messages = len(reply.message_ids)
    answer.edits = sum(
        1
        for message_id in reply.message_ids
        for call in platform.calls_for(message_id)
        if call.kind == "edit" and call.outcome == "ok"
    )


def _sink(platform: FakePlatform, channel: str) -> FakeSink:
    from adapters.slack.sink import sink_limits
    from adapters.slack.text import sanitize

    return FakeSink.declaring(
        platform,
        sink_limits(WORKSPACE, channel),
        enforce_per_minute=TIER3_PER_MINUTE,
        enforce_burst=TIER3_BURST,
        enforce_posts_per_minute=POSTS_PER_MINUTE,
        enforce_post_burst=POST_BURST,
        latency=CALL_LATENCY,
        sanitizer=sanitize,
    )


def _answer(rng: random.Random) -> str:
    size = rng.randint(3_000, 6_000) if rng.random() < 0.25 else rng.randint(200, 2_000)
    return mixed_answer(
        rng,
        size,
        words=WORDS,
        code_share=0.2,
        code_line=lambda n: f"    total += item_{n} * {n}",
        max_lines=30,
    )


PROSE = (
    "a busy workspace still gets every answer exact and in order while the budgets are "
    "shared by all channels <!here> @channel"
)
WORDS = tuple(PROSE.split())


def _row(plan: Plan, run: _Run, platform: FakePlatform, wall: float) -> Row:
    answers = run.answers
    per_minute = len(answers) / (run.virtual / 60.0)
    exact = sum(answer.exact for answer in answers)
    latencies = [answer.finished_at for answer in answers]
    streamed = sum(answer.edits > 0 for answer in answers)
    ok = (
        per_minute >= GOAL_PER_MINUTE
        and platform.rate_limited == 0
        and exact == len(answers)
        and not platform.violations
    )
    measured = (
        f"{per_minute:.0f} answers/min; {platform.rate_limited} 429s; "
        f"{exact}/{len(answers)} finals exact"
    )
    conditions = (
        f"{count(plan.questions)} questions queued at once over {plan.channels} channels of one "
        f"workspace, each answered in its own thread, ≤ {CONCURRENCY} generating at once; "
        f"answers {count(min(len(a.text) for a in answers))}–"
        f"{count(max(len(a.text) for a in answers))} chars at {CHARS_PER_SECOND:.0f} chars/s "
        f"after {FIRST_TOKEN} s; the fake enforces chat.update {TIER3_PER_MINUTE:.0f}/min burst "
        f"{TIER3_BURST} per workspace and chat.postMessage {POSTS_PER_MINUTE:.0f}/min burst "
        f"{POST_BURST} per channel, {CALL_LATENCY * 1000:.0f} ms per call; virtual time "
        f"(FakeClock): {run.virtual / 60:.1f} min in {wall:.1f} s; accept → final p50 "
        f"{percentile(latencies, 50):.0f} s / p99 {percentile(latencies, 99):.0f} s; "
        f"{streamed} answers streamed with edits, {len(answers) - streamed} posted whole; "
        f"{platform.count('edit')} chat.update, {platform.count('post')} chat.postMessage; "
        f"{len(platform.violations)} platform violations"
    )
    return make_row(NAME, measured, ok, conditions)
