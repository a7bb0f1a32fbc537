"""Bot-added latency: event received (``engine.handle`` called) → completion request sent.

Every conversation is a loop: a tagged user message goes to ``engine.handle``; the fake model
answers by echoing it at a fixed token rate; once the answer is final, after a short random
pause, the next message arrives in the same conversation. Starts are spread over one answer's
duration, so in steady state all conversations stream at once and new messages keep arriving
across them. A sample is taken for every message that arrives during the measured window:

* ``server``: from the ``accept`` call to the fake server receiving the request's headers (in
  its own process; both sides read ``time.perf_counter``, one system-wide monotonic clock);
* ``client``: from the ``accept`` call to the request being handed to httpx (an event hook);
* ``stored``: from the ``accept`` call to the question and its job being stored (admission);
* queue wait: the engine's own figure, ``accept`` called → the answer's turn starts.

The difference between the two is the loopback transport plus the server's accept delay.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from benchmarks.harness import Bot, CountingReply, Live, conversation, message, running_bot
from benchmarks.llm_proc import TAG, LLMProcess, tag_text
from benchmarks.report import Options, Row, count, make_row, ms, percentile
from bot.errors import BotError
from bot.llm.client import LLMTimeouts
from bot.metrics import NullMetrics
from bot.model import TurnStatus

NAME = "latency"
GOAL_SECONDS = 0.010
PREFIX = "You said: "


@dataclass(frozen=True, slots=True)
class Plan:
    conversations: int
    duration: float
    chunk_chars: int
    chunk_delay: float
    question_chars: int
    think: float

    @property
    def answer_seconds(self) -> float:
        chunks = -(-(len(PREFIX) + len(tag_text(0, "")) + self.question_chars) // self.chunk_chars)
        return chunks * self.chunk_delay


FULL = Plan(
    conversations=500, duration=60.0, chunk_chars=4, chunk_delay=0.05, question_chars=400, think=1.0
)
QUICK = Plan(
    conversations=20, duration=3.0, chunk_chars=4, chunk_delay=0.01, question_chars=80, think=0.2
)


@dataclass
class _Run:
    plan: Plan
    start: float = 0.0
    stopping: bool = False
    live: Live = field(default_factory=Live)
    tags: int = 0
    sent: dict[int, float] = field(default_factory=dict)
    handed: dict[int, float] = field(default_factory=dict)
    stored: dict[int, float] = field(default_factory=dict)
    waits: list[tuple[float, float]] = field(default_factory=list)
    concurrency: dict[int, int] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    cpu: float = 0.0
    solo: list[int] = field(default_factory=list)

    def window(self) -> tuple[float, float]:
        begin = self.start + 2 * self.plan.answer_seconds
        return begin, begin + self.plan.duration


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    timeouts = LLMTimeouts(connect=5.0, first_token=60.0, idle=60.0)
    async with LLMProcess(chunk_chars=plan.chunk_chars, chunk_delay=plan.chunk_delay) as llm:
        run = _Run(plan)
        async with running_bot(
            llm.base_url,
            max_concurrent=plan.conversations + 16,
            timeouts=timeouts,
            metrics=_QueueWaits(run.waits),
        ) as bot:
            bot.http.event_hooks["request"].append(_handed_hook(run))

            await _solo(bot, run)
            await _drive(bot, run)
        stats = await llm.stats()
    return [_row(run, stats.received)]


class _QueueWaits(NullMetrics):
    """Keeps the engine's queue waits (accept called → the answer's turn starts)."""

    def __init__(self, into: list[tuple[float, float]]) -> None:
        super().__init__()
        self._into = into

    def queue_waited(self, platform: str, seconds: float) -> None:
        self._into.append((time.perf_counter() - seconds, seconds))


def _handed_hook(run: _Run):  # type: ignore[no-untyped-def]
    async def hook(request: httpx.Request) -> None:
        at = time.perf_counter()
        found = TAG.search(request.content[request.content.rfind(b"[bench:") :].decode())
        if found:
            run.handed[int(found.group(1))] = at

    return hook


async def _solo(bot: Bot, run: _Run, turns: int = 12) -> None:
    """The floor: one conversation alone, short answers, nothing else going on."""
    key = conversation(-1)
    for _ in range(turns):
        run.tags += 1
        run.solo.append(run.tags)
        reply = bot.reply(f"solo:{run.tags}")  # its own budget: finals never wait
        run.sent[run.tags] = time.perf_counter()
        await bot.engine.handle(message(key, run.tags, tag_text(run.tags, "hi")), reply)
        await asyncio.sleep(0.05)
    del run.solo[:2]  # the first turns open the connection and warm caches


async def _drive(bot: Bot, run: _Run) -> None:
    run.start = time.perf_counter()
    tasks = [asyncio.create_task(_talk(bot, run, index)) for index in range(run.plan.conversations)]
    begin, end = run.window()
    await asyncio.sleep(begin - time.perf_counter())
    cpu = time.process_time()
    await asyncio.sleep(end - time.perf_counter())
    run.cpu = (time.process_time() - cpu) / run.plan.duration
    run.stopping = True
    _, late = await asyncio.wait(tasks, timeout=run.plan.answer_seconds + 60)
    for task in late:  # answers still stuck after the window do not change its samples
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _talk(bot: Bot, run: _Run, index: int) -> None:
    key = conversation(index)
    rng = random.Random(index)
    question = ("tell me more about streaming replies and budgets " * 20)[: run.plan.question_chars]
    await asyncio.sleep(rng.uniform(0, run.plan.answer_seconds))
    while not run.stopping:
        run.tags += 1
        tag = run.tags
        reply = CountingReply(bot.reply(f"bench:channel:{index}"), run.live)
        run.concurrency[tag] = run.live.streaming
        run.sent[tag] = time.perf_counter()
        try:
            accepted = await bot.engine.accept(message(key, tag, tag_text(tag, question)))
            run.stored[tag] = time.perf_counter()
            assert accepted is not None  # no claims given: never a duplicate
            result = await bot.engine.answer(accepted, reply)
        except BotError as exc:
            run.errors[type(exc).__name__] += 1
        else:
            if result.status is not TurnStatus.COMPLETE:
                run.errors[f"answer {result.status.value}"] += 1
        await asyncio.sleep(rng.uniform(0, run.plan.think))


def _row(run: _Run, received: dict[int, float]) -> Row:
    begin, end = run.window()
    tags = [tag for tag, at in run.sent.items() if begin <= at < end]
    server = [received[t] - run.sent[t] for t in tags if t in received]
    client = [run.handed[t] - run.sent[t] for t in tags if t in run.handed]
    busy = [run.concurrency[t] for t in tags]
    solo = [received[t] - run.sent[t] for t in run.solo if t in received]
    stored = [run.stored[t] - run.sent[t] for t in tags if t in run.stored]
    waits = [wait for at, wait in run.waits if begin <= at < end]
    p99 = percentile(server, 99)
    plan = run.plan
    deltas_per_second = plan.conversations / plan.chunk_delay
    conditions = (
        f"{plan.conversations} conversations; answers streaming when a message arrived: "
        f"median {percentile(busy, 50):.0f}, min {min(busy, default=0)}; each answer streams "
        f"{plan.chunk_chars}-char chunks every {plan.chunk_delay * 1000:.0f} ms "
        f"(≈{count(deltas_per_second)} deltas/s in all); "
        f"{count(len(tags) / plan.duration)} new messages/s over {plan.duration:.0f} s, "
        f"{count(len(tags))} samples; time to the fake server receiving the request "
        f"(handed to httpx: p50 {ms(percentile(client, 50))} / p99 {ms(percentile(client, 99))}); "
        f"accept → stored p50 {ms(percentile(stored, 50))} / p99 {ms(percentile(stored, 99))}; "
        f"queue wait (accept → the answer's turn starts) p50 {ms(percentile(waits, 50))} / "
        f"p99 {ms(percentile(waits, 99))}; "
        f"bot process busy {run.cpu * 100:.0f}% of one core; {_errors(run.errors)}; floor (one "
        f"conversation alone, no other load): p50 {ms(percentile(solo, 50))}"
    )
    ok = bool(server) and p99 < GOAL_SECONDS and not run.errors
    measured = f"p50 {ms(percentile(server, 50))} / p99 {ms(p99)}"
    return make_row(NAME, measured, ok, conditions)


def _errors(errors: Counter[str]) -> str:
    if not errors:
        return "no failed turns"
    return "FAILED TURNS: " + ", ".join(f"{n}× {what}" for what, n in errors.most_common())
