"""Memory per active stream: N answers held mid-stream, each showing about 2,000 characters.

The fake model (another process) streams 2,000 characters of each answer and then stalls, so
N generations stay open at once, each with its engine turn, its httpx streaming response, its
``ProgressiveReply`` and sink. Two passes over fresh conversations:

* RSS: resident set size of this process before the N streams start and once every reply shows
  its 2,000 characters (``gc.collect()`` first), divided by N;
* tracemalloc: Python allocations still live at that point, divided by N (the number that
  does not depend on allocator reuse), with the biggest sources named.

The sink keeps no copy of the texts it is sent (a real adapter forwards them to the platform),
so what is counted is the bot's own memory.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import sys
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import Bot, conversation, message, running_bot
from benchmarks.llm_proc import LLMProcess, tag_text
from benchmarks.report import Options, Row, count, make_row
from bot.engine import TurnResult
from bot.llm.client import LLMTimeouts
from bot.model import ConversationKey
from bot.reply.base import SinkLimits
from bot.reply.progressive import ProgressiveReply
from tests.fakes.sink import neutralise_mentions

NAME = "memory"
GOAL_BYTES = 32 * 1024
SHOWN_CHARS = 2_000
ROOT = str(Path(__file__).resolve().parents[1])


@dataclass(frozen=True, slots=True)
class Plan:
    streams: int
    traced: int


FULL = Plan(streams=500, traced=200)
QUICK = Plan(streams=20, traced=20)


class LeanSink:
    """A ``MessageSink`` that, like a platform adapter, forwards texts and keeps none of them."""

    _ids = itertools.count(1)

    def __init__(self, scope: str) -> None:
        self._limits = SinkLimits(3500, scope, 50.0, burst=4, min_edit_interval=1.0)
        self.calls = 0

    @property
    def limits(self) -> SinkLimits:
        return self._limits

    async def post(self, text: str, *, final: bool, last: bool = False) -> str:
        self.calls += 1
        return f"m{next(self._ids)}"

    async def edit(self, message_id: str, text: str, *, final: bool, last: bool = False) -> None:
        self.calls += 1

    def sanitize(self, text: str) -> str:
        return neutralise_mentions(text)


@dataclass
class _Pass:
    per_stream: float
    shown: int
    top: str = ""


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    timeouts = LLMTimeouts(connect=5.0, first_token=60.0, idle=600.0)
    async with (
        LLMProcess(chunk_chars=4) as llm,
        running_bot(llm.base_url, max_concurrent=2 * plan.streams + 16, timeouts=timeouts) as bot,
    ):
        await _warm_up(bot, llm)
        rss = await _pass(bot, llm, plan.streams, "rss", _rss)
        tracemalloc.start()
        traced = await _pass(bot, llm, plan.traced, "traced", _traced)
        tracemalloc.stop()
    return [_row(plan, rss, traced)]


async def _warm_up(bot: Bot, llm: LLMProcess) -> None:
    """One whole answer and one stalled one, so one-time allocations are not counted."""
    await bot.engine.handle(message(conversation(-1), 0, tag_text(0, "hello")), bot.reply("w"))
    await _pass(bot, llm, 1, "warm", _rss)


async def _pass(bot: Bot, llm: LLMProcess, n: int, name: str, probe) -> _Pass:  # type: ignore[no-untyped-def]
    gc.collect()
    before = probe()
    await llm.stall(n, SHOWN_CHARS)
    keys = [ConversationKey("bench", name, f"C{i}", f"T{i}") for i in range(n)]
    replies = [bot.factory.create(LeanSink(f"{name}:{i}")) for i in range(n)]
    tasks = []
    for i, (key, reply) in enumerate(zip(keys, replies, strict=True)):
        handling = bot.engine.handle(message(key, i, tag_text(i, "go")), reply)
        tasks.append(asyncio.create_task(handling))
        await _accepted(reply, tasks[-1])
    shown = await _until_shown(replies, tasks)
    gc.collect()
    result = _Pass((probe() - before) / n, shown, _top() if tracemalloc.is_tracing() else "")
    for key, task in zip(keys, tasks, strict=True):  # one at a time, like the arrivals
        await bot.engine.stop(key)
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=60)
    return result


async def _accepted(reply: ProgressiveReply, task: asyncio.Task[TurnResult]) -> None:
    """Wait until the engine stored the message and posted the placeholder.

    Messages arrive one after another rather than all in the same instant: 500 simultaneous
    SQLite writers would measure lock waits, not memory.
    """
    while not reply.message_ids and not task.done():
        await asyncio.wait([task], timeout=0.001)


async def _until_shown(
    replies: list[ProgressiveReply], tasks: list[asyncio.Task[TurnResult]]
) -> int:
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        shown = sum(len(r.text) >= SHOWN_CHARS and r.delivered for r in replies)
        if shown == len(replies) or any(task.done() for task in tasks):
            return shown
        await asyncio.sleep(0.2)
    return sum(len(r.text) >= SHOWN_CHARS and r.delivered for r in replies)


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _traced() -> int:
    return tracemalloc.get_traced_memory()[0]


def _top() -> str:
    stats = tracemalloc.take_snapshot().statistics("filename")
    parts = []
    for stat in stats[:4]:
        name = _short(stat.traceback[0].filename)
        parts.append(f"{name} {stat.size / 1024:.0f} KB")
    return ", ".join(parts)


def _short(filename: str) -> str:
    """A source file's name relative to the checkout, site-packages or the standard library."""
    for anchor in (
        ROOT + "/",
        "site-packages/",
        f"python{sys.version_info[0]}.{sys.version_info[1]}/",
    ):
        if anchor in filename:
            return filename.split(anchor)[-1]
    return filename


def _row(plan: Plan, rss: _Pass, traced: _Pass) -> Row:
    kb = traced.per_stream / 1024
    ok = traced.per_stream < GOAL_BYTES and rss.per_stream < GOAL_BYTES
    ok = ok and rss.shown == plan.streams and traced.shown == plan.traced
    conditions = (
        f"{count(plan.streams)} answers open at once for RSS, {count(plan.traced)} under "
        f"tracemalloc (engine generation, httpx stream, ProgressiveReply, sink), each showing "
        f"{count(SHOWN_CHARS)} chars in 4-char deltas ({rss.shown}+{traced.shown} reached it); "
        f"largest live allocations by file (all {plan.traced}): {traced.top}"
    )
    measured = f"{kb:.1f} KB/stream (tracemalloc), {rss.per_stream / 1024:.1f} KB (RSS)"
    return make_row(NAME, measured, ok, conditions)
