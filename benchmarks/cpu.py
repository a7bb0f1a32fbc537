"""CPU time per streamed delta through the engine, the reply and the sink.

Conversations (each in its own Discord-like channel, so its own edit budget) ask for answers of
about 2,000 characters, which the fake model streams in 4-character deltas at a fixed token
rate; starts are spread over one answer's duration. ``time.process_time()`` of this process,
over the whole run, covers everything the bot does for those answers: storing the turns
(SQLite, aiosqlite's thread included), building prompts, the httpx client parsing the SSE
stream, the engine's generation loop, ``ProgressiveReply`` (layout, rollover, scheduler) and
the in-memory ``FakeSink``. The fake model runs in another process; its CPU time is reported
separately. Deltas are counted from the answers received (one per 4 characters).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from benchmarks.harness import Bot, conversation, message, running_bot
from benchmarks.llm_proc import LLMProcess, tag_text
from benchmarks.paced_model import PacedModel
from benchmarks.report import Options, Row, count, make_row
from bot.errors import BotError
from bot.llm.base import CompletionRequest
from bot.llm.client import LLMTimeouts
from bot.model import TurnStatus
from bot.params import GenerationParams

NAME = "cpu"
GOAL_MICROSECONDS = 20.0
GOAL_WITH_SSE = 50.0
CHUNK_CHARS = 4


@dataclass(frozen=True, slots=True)
class Plan:
    conversations: int
    turns: int
    question_chars: int
    chunk_delay: float

    @property
    def answer_seconds(self) -> float:
        return self.question_chars / CHUNK_CHARS * self.chunk_delay


FULL = Plan(conversations=200, turns=2, question_chars=2_000, chunk_delay=0.02)
QUICK = Plan(conversations=10, turns=1, question_chars=400, chunk_delay=0.005)


@dataclass
class _Run:
    deltas: int = 0
    errors: Counter[str] = field(default_factory=Counter)


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    timeouts = LLMTimeouts(connect=5.0, first_token=60.0, idle=60.0)
    async with (
        LLMProcess(chunk_chars=CHUNK_CHARS, chunk_delay=plan.chunk_delay) as llm,
        running_bot(llm.base_url, max_concurrent=plan.conversations + 16, timeouts=timeouts) as bot,
    ):
        run = _Run()
        server_before = (await llm.stats()).cpu
        cpu, wall = time.process_time(), time.perf_counter()
        talks = [_talk(bot, plan, run, index) for index in range(plan.conversations)]
        await asyncio.gather(*talks)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        server = (await llm.stats()).cpu - server_before
    return [await _core_row(plan, timeouts), _row(plan, run, cpu, wall, server)]


async def _core_row(plan: Plan, timeouts: LLMTimeouts) -> Row:
    """The same load with the model in-process: engine + reply + sink alone, no HTTP."""
    model = PacedModel(CHUNK_CHARS, plan.chunk_delay)
    async with running_bot(
        "http://127.0.0.1:9/v1",
        max_concurrent=plan.conversations + 16,
        timeouts=timeouts,
        model=model,
    ) as bot:
        run = _Run()
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(_talk(bot, plan, run, i) for i in range(plan.conversations)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_delta = cpu / max(1, run.deltas) * 1e6
    model_cost = await _model_alone(plan)
    net = per_delta - model_cost
    errors = ", ".join(f"{n}× {what}" for what, n in run.errors.most_common())
    conditions = (
        f"the load below with the model's events produced in-process (no HTTP): "
        f"{count(run.deltas)} deltas; engine (SQLite turns, prompt), Generation, "
        f"ProgressiveReply (layout, rollover, scheduler) and FakeSink; CPU {cpu:.1f} s in "
        f"{wall:.1f} s wall, {per_delta:.1f} µs/delta in all, of which the in-process model's "
        f"own pacing (a timer and a task wake per delta, what a socket read costs in "
        f"production and the SSE row counts) is {model_cost:.1f} µs, measured alone under the "
        f"same plan" + (f"; FAILED TURNS: {errors}" if errors else "")
    )
    ok = run.deltas > 0 and net < GOAL_MICROSECONDS and not run.errors
    return make_row(f"{NAME}_core", f"{net:.1f} µs/delta (net of the model)", ok, conditions)


async def _model_alone(plan: Plan) -> float:
    """CPU µs per event of the in-process model alone, streamed to a consumer that only
    counts, with the same conversations, pacing and staggered starts as the core run."""
    model = PacedModel(CHUNK_CHARS, plan.chunk_delay)
    text = "x" * plan.question_chars
    events = 0

    async def consume(index: int) -> None:
        nonlocal events
        await asyncio.sleep(random.Random(index).uniform(0, plan.answer_seconds))
        request = CompletionRequest([{"role": "user", "content": text}], GenerationParams("m"))
        for _ in range(plan.turns):
            async for _event in model.stream(request):
                events += 1

    cpu = time.process_time()
    await asyncio.gather(*(consume(index) for index in range(plan.conversations)))
    return (time.process_time() - cpu) / max(1, events) * 1e6


async def _talk(bot: Bot, plan: Plan, run: _Run, index: int) -> None:
    key = conversation(index)
    rng = random.Random(index)
    question = ("a question that the model will echo back as its answer " * 60)[
        : plan.question_chars
    ]
    await asyncio.sleep(rng.uniform(0, plan.answer_seconds))
    for turn in range(plan.turns):
        tag = index * plan.turns + turn
        reply = bot.reply(f"bench:channel:{index}")
        try:
            result = await bot.engine.handle(message(key, tag, tag_text(tag, question)), reply)
        except BotError as exc:
            run.errors[type(exc).__name__] += 1
            continue
        if result.status is not TurnStatus.COMPLETE:
            run.errors[f"answer {result.status.value}"] += 1
        run.deltas += math.ceil(len(result.text) / CHUNK_CHARS)


def _row(plan: Plan, run: _Run, cpu: float, wall: float, server: float) -> Row:
    per_delta = cpu / max(1, run.deltas) * 1e6
    rate = plan.conversations / plan.chunk_delay
    errors = ", ".join(f"{n}× {what}" for what, n in run.errors.most_common())
    conditions = (
        f"{count(run.deltas)} deltas: {plan.conversations} conversations × {plan.turns} answers of "
        f"≈{count(plan.question_chars)} chars, {CHUNK_CHARS}-char deltas every "
        f"{plan.chunk_delay * 1000:.0f} ms per stream (≈{count(rate)} deltas/s); bot process CPU "
        f"{cpu:.1f} s in {wall:.1f} s wall ({cpu / wall * 100:.0f}% of one core), including "
        f"SQLite, httpx SSE parsing, ProgressiveReply, FakeSink; the fake model's own process: "
        f"{server / max(1, run.deltas) * 1e6:.0f} µs/delta (not included)"
        + (f"; FAILED TURNS: {errors}" if errors else "")
    )
    ok = run.deltas > 0 and per_delta <= GOAL_WITH_SSE and not run.errors
    return make_row(NAME, f"{per_delta:.1f} µs/delta", ok, conditions)
