"""How soon a fast, long answer is final on the platform, on virtual time.

End-to-end figures of the reply pipeline (``ProgressiveReply`` with the adapter's own
``sink_limits``, writing to a ``FakeSink`` that enforces the platform's budget and takes 50 ms
per call). The model answers 7,078 characters (prose with a code block) in ~3.2 s: the first
delta 0.2 s after the request, then 4-character deltas evenly over 3.0 s.

* **Slack**: 3 mentions at the same instant, in 3 channels of one workspace; the fake enforces
  ``chat.update`` 10 per 10 s for the workspace and ``chat.postMessage`` 1/s (burst 3) per
  channel. Measured: the last write of any of the three answers, after the first request.
* **Discord**: 1 mention; the fake enforces 5 requests per 5 s on each route (``PATCH`` edits
  and ``POST`` messages of the channel). Measured: the answer's last write after the request.

Each also reports 429s, edits, posts and whether the final text is exact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.report import Options, Row, count, make_row
from bot.reply.base import SinkLimits
from bot.reply.clock import FakeClock
from bot.reply.factory import ReplyFactory
from bot.reply.scheduler import RateScheduler
from tests.fakes.sink import FakePlatform, FakeSink

ANSWER_CHARS = 7_078
FIRST_DELTA = 0.2
STREAM_SECONDS = 3.0
DELTA = 4
CALL_LATENCY = 0.05
SLACK_GOAL = 5.0
DISCORD_GOAL = 3.5
Sanitizer = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Budget:
    """What the fake platform enforces: edits per scope, posts per channel."""

    edits_per_minute: float
    edit_burst: int
    posts_per_minute: float
    post_burst: int


SLACK = Budget(edits_per_minute=60.0, edit_burst=10, posts_per_minute=60.0, post_burst=3)
DISCORD = Budget(edits_per_minute=60.0, edit_burst=5, posts_per_minute=60.0, post_burst=5)


@dataclass
class _Outcome:
    last_write: float
    exact: int
    answers: int
    platform: FakePlatform


NAME = "finals"


async def measure(options: Options) -> list[Row]:
    """The Slack row (``benchmarks.discord_final`` measures the Discord one)."""
    from adapters.slack.sink import sink_limits
    from adapters.slack.text import sanitize

    limits = [sink_limits("T-bench", f"C{n}") for n in range(3)]
    slack = await run(limits, SLACK, sanitize, answer_text())
    return [row(NAME, slack, SLACK_GOAL, "3 simultaneous mentions in 3 channels")]


def answer_text() -> str:
    """A 7,078-character answer: paragraphs, a Python block, more paragraphs."""
    paragraph = (
        "Streaming a long answer means the first message fills up quickly, and the rest of "
        "the answer continues in new messages while the platform's budget is shared. "
    )
    code = "```python\n" + "".join(f"print('row {n:03d}')\n" for n in range(60)) + "```\n\n"
    body = (paragraph * 3 + "\n\n") * 6 + code + (paragraph * 3 + "\n\n") * 12
    return body[:ANSWER_CHARS]


async def run(limits: list[SinkLimits], budget: Budget, sanitize: Sanitizer, text: str) -> _Outcome:
    clock = FakeClock()
    platform = FakePlatform(clock)
    factory = ReplyFactory(RateScheduler(clock), clock)
    results = await asyncio.gather(
        *(_play(clock, factory, _sink(platform, one, budget, sanitize), text) for one in limits)
    )
    ends = [call.ended for call in platform.calls if call.ended is not None]
    exact = sum(platform.joined(ids) == sanitize(text) for ids in results)
    return _Outcome(max(ends), exact, len(limits), platform)


async def _play(clock: FakeClock, factory: ReplyFactory, sink: FakeSink, text: str) -> list[str]:
    reply = factory.create(sink)
    await reply.start()
    await clock.sleep(FIRST_DELTA)
    pieces = [text[at : at + DELTA] for at in range(0, len(text), DELTA)]
    gap = STREAM_SECONDS / len(pieces)
    for piece in pieces:
        await reply.append(piece)
        await clock.sleep(gap)
    await reply.finish()
    return reply.message_ids


def _sink(
    platform: FakePlatform, limits: SinkLimits, budget: Budget, sanitize: Sanitizer
) -> FakeSink:
    return FakeSink.declaring(
        platform,
        limits,
        enforce_per_minute=budget.edits_per_minute,
        enforce_burst=budget.edit_burst,
        enforce_posts_per_minute=budget.posts_per_minute,
        enforce_post_burst=budget.post_burst,
        latency=CALL_LATENCY,
        sanitizer=sanitize,
    )


def row(key: str, outcome: _Outcome, goal: float, who: str) -> Row:
    platform = outcome.platform
    ok = (
        outcome.last_write <= goal
        and platform.rate_limited == 0
        and outcome.exact == outcome.answers
        and not platform.violations
    )
    measured = (
        f"last write {outcome.last_write:.2f} s after the request; {platform.rate_limited} 429s; "
        f"{outcome.exact}/{outcome.answers} exact"
    )
    conditions = (
        f"{who}; {count(ANSWER_CHARS)}-char answers (prose and a code block), first delta "
        f"{FIRST_DELTA} s after the request, the rest over {STREAM_SECONDS} s in "
        f"{DELTA}-char deltas; {platform.count('edit')} edits, {platform.count('post')} posts; "
        f"{CALL_LATENCY * 1000:.0f} ms per call; virtual time (FakeClock); "
        f"{len(platform.violations)} platform violations"
    )
    return make_row(key, measured, ok, conditions)
