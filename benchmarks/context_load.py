"""Context load from a big SQLite store: ``store.load_context(key, limit)``, random conversations.

The store is built once by bulk inserts (SQLAlchemy Core ``executemany`` in large transactions
on a freshly migrated database) and cached under ``--cache-dir`` keyed by the schema head and
the sizes, so later runs reuse it. Messages are spread at random over the conversations in
time order, as real traffic interleaves them (so one conversation's rows are scattered over the
table), alternate user and assistant turns, and are 20–600 characters long.

Each sample is one ``load_context`` call through the real ``SqlConversationStore`` (aiosqlite,
WAL), with the engine's limit (``CONTEXT_MESSAGES``), after a warm-up; calls run one at a time.
The file is read through once first, so its pages are in the OS cache (a busy server's database
is; a cold disk would measure the disk).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

from benchmarks.report import Options, Row, count, make_row, ms, percentile
from bot.engine import CONTEXT_MESSAGES
from bot.model import ConversationKey
from bot.store.db import open_store
from bot.store.migrate import head_revision, upgrade
from bot.store.tables import Conversation, Message

NAME = "context_load"
GOAL_SECONDS = 0.005
BATCH = 50_000
TEXT = (
    "Threadline keeps every conversation in its own database, so the context of a thread "
    "survives restarts and never depends on re-reading the platform. "
) * 12


@dataclass(frozen=True, slots=True)
class Plan:
    messages: int
    conversations: int
    samples: int


FULL = Plan(messages=1_000_000, conversations=10_000, samples=3_000)
QUICK = Plan(messages=20_000, conversations=200, samples=300)


def key(index: int) -> ConversationKey:
    return ConversationKey("bench", "W1", f"C{index % 500}", f"T{index}")


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    path, built = await asyncio.to_thread(cached_store, options.cache_dir, plan)
    await asyncio.to_thread(_preread, path)
    rng = random.Random(6)
    times: list[float] = []
    loaded = 0
    async with open_store(f"sqlite+aiosqlite:///{path}") as store:
        for sample in range(plan.samples + 200):
            target = key(rng.randrange(plan.conversations))
            started = time.perf_counter()
            messages = await store.load_context(target, CONTEXT_MESSAGES)
            if sample >= 200:  # the first 200 warm the pool and the page cache
                times.append(time.perf_counter() - started)
                loaded += len(messages)
    return [_row(plan, times, loaded, path, built)]


def cached_store(cache_dir: Path, plan: Plan) -> tuple[Path, float | None]:
    """The store file for ``plan`` (built if missing) and its build time (None if cached)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"context-{head_revision()}-{plan.messages}x{plan.conversations}.db"
    if path.exists():
        return path, None
    started = time.perf_counter()
    building = path.with_name(path.name + ".building")
    for stale in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        stale.unlink(missing_ok=True)
    upgrade(f"sqlite:///{building}")
    _fill(building, plan)
    os.replace(building, path)
    return path, time.perf_counter() - started


def _preread(path: Path) -> None:
    """Read the file once so it sits in the OS page cache: measure the store, not the disk."""
    with path.open("rb") as file:
        while file.read(8 << 20):
            pass


def _fill(path: Path, plan: Plan) -> None:
    engine = create_engine(f"sqlite:///{path}")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=OFF")
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.execute(
                insert(Conversation), [_conversation(i, start) for i in range(plan.conversations)]
            )
        rng = random.Random(5)
        turns = [0] * plan.conversations
        for first in range(0, plan.messages, BATCH):
            rows = []
            for number in range(first, min(first + BATCH, plan.messages)):
                owner = rng.randrange(plan.conversations)
                rows.append(_message(rng, owner, turns[owner], number, start))
                turns[owner] += 1
            with engine.begin() as conn:
                conn.execute(insert(Message), rows)
    finally:
        engine.dispose()


def _conversation(index: int, start: datetime) -> dict[str, Any]:
    k = key(index)
    return {
        "id": index + 1,
        "platform": k.platform,
        "workspace": k.workspace,
        "channel": k.channel,
        "thread": k.thread,
        "context_start": 0,
        "created_at": start,
    }


def _message(
    rng: random.Random, owner: int, turn: int, number: int, start: datetime
) -> dict[str, Any]:
    at = start + timedelta(seconds=number)
    offset = rng.randrange(len(TEXT) - 600)
    assistant = turn % 2 == 1
    return {
        "conversation_id": owner + 1,
        "role": "assistant" if assistant else "user",
        "author_id": "" if assistant else f"U{owner % 97}",
        "author_name": "" if assistant else f"User {owner % 97}",
        "content": TEXT[offset : offset + rng.randint(20, 600)],
        "status": "complete",
        "model": "llama-3.1-nemotron" if assistant else "",
        "finish_reason": "stop" if assistant else "",
        "prompt_tokens": 900 if assistant else None,
        "completion_tokens": 150 if assistant else None,
        "platform_message_ids": [f"{1735689600 + number}.{number % 1_000_000:06d}"],
        "extra": {},
        "feedback": None,
        "deleted": False,
        "created_at": at,
        "updated_at": at,
    }


def _row(plan: Plan, times: list[float], loaded: int, path: Path, built: float | None) -> Row:
    p99 = percentile(times, 99)
    size = path.stat().st_size / 1e6
    how = "reused from the cache" if built is None else f"built in {built:.0f} s"
    conditions = (
        f"{count(plan.messages)} messages in {count(plan.conversations)} conversations "
        f"({size:.0f} MB file, {how}, pre-read into the OS page cache); "
        f"{count(len(times))} sequential load_context(key, "
        f"{CONTEXT_MESSAGES}) calls for random conversations, {loaded / max(1, len(times)):.0f} "
        f"messages each on average; max {ms(max(times, default=0))}"
    )
    measured = f"p50 {ms(percentile(times, 50))} / p99 {ms(p99)}"
    return make_row(NAME, measured, bool(times) and p99 < GOAL_SECONDS, conditions)
