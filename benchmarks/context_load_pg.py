"""Context load from a big PostgreSQL store: ``store.load_context(key, limit)``, random
conversations, as ``benchmarks.context_load`` does on SQLite.

The database (``threadline_bench_context_<messages>`` on the benchmark server, see
``benchmarks.pg``) is built once: migrated with Alembic, filled with the same generated
conversations and messages through asyncpg's binary ``COPY``, analysed, and marked done in a
table ``bench_marker`` holding the plan and the schema head. A later run finds the marker and
reuses the database; a missing or different marker (an interrupted build, a new migration)
rebuilds it. The table is read through once before measuring (a busy server has it cached).
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from benchmarks import pg
from benchmarks.context_load import BATCH, FULL, QUICK, Plan, _conversation, _message, key
from benchmarks.report import Options, Row, count, make_row, ms, percentile
from bot.engine import CONTEXT_MESSAGES
from bot.store.db import make_engine, open_store
from bot.store.migrate import head_revision, upgrade_async

NAME = "context_load_pg"
GOAL_SECONDS = 0.005
WARM_UP = 200
MESSAGE_COLUMNS = (
    "conversation_id", "role", "author_id", "author_name", "content", "status", "model",
    "finish_reason", "prompt_tokens", "completion_tokens", "platform_message_ids", "extra",
    "feedback", "deleted", "requester", "created_at", "updated_at",
)  # fmt: skip


async def measure(options: Options) -> list[Row]:
    plan = QUICK if options.quick else FULL
    url, built = await cached_database(plan)
    rng = random.Random(6)
    times: list[float] = []
    loaded = 0
    async with open_store(url) as store:
        for sample in range(plan.samples + WARM_UP):
            target = key(rng.randrange(plan.conversations))
            started = time.perf_counter()
            messages = await store.load_context(target, CONTEXT_MESSAGES)
            if sample >= WARM_UP:
                times.append(time.perf_counter() - started)
                loaded += len(messages)
    return [_row(plan, times, loaded, built)]


def _marker(plan: Plan) -> str:
    return f"{plan.messages}x{plan.conversations}@{head_revision()}"


async def cached_database(plan: Plan) -> tuple[str, float | None]:
    """The database for ``plan`` (built if its marker is missing) and its build time."""
    name = f"threadline_bench_context_{plan.messages}"
    url = pg.database_url(name)
    if await _marked(url) == _marker(plan):
        await _read_through(url)
        return url, None
    started = time.perf_counter()
    await pg.recreate(name)
    await upgrade_async(url)
    await _fill(url, plan)
    await _read_through(url)
    return url, time.perf_counter() - started


async def _marked(url: str) -> str | None:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.connect() as conn:
            return str(await conn.scalar(text("SELECT plan FROM bench_marker")))
    except (SQLAlchemyError, OSError):
        return None  # no database, no marker: build
    finally:
        await engine.dispose()


async def _fill(url: str, plan: Plan) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            conversations = [_conversation(i, start) for i in range(plan.conversations)]
            columns = list(conversations[0])
            await raw.copy_records_to_table(
                "conversations",
                records=[tuple(c[k] for k in columns) for c in conversations],
                columns=columns,
            )
            await _copy_messages(raw, plan, start)
            await raw.execute("SELECT setval('conversations_id_seq', $1)", plan.conversations)
            await raw.execute("ANALYZE")
            await raw.execute("CREATE TABLE bench_marker (plan text PRIMARY KEY)")
            await raw.execute("INSERT INTO bench_marker VALUES ($1)", _marker(plan))
    finally:
        await engine.dispose()


async def _copy_messages(raw: Any, plan: Plan, start: datetime) -> None:
    rng = random.Random(5)
    turns = [0] * plan.conversations
    for first in range(0, plan.messages, BATCH):
        records = []
        for number in range(first, min(first + BATCH, plan.messages)):
            owner = rng.randrange(plan.conversations)
            row = _message(rng, owner, turns[owner], number, start) | {"requester": ""}
            turns[owner] += 1
            row["platform_message_ids"] = json.dumps(row["platform_message_ids"])
            row["extra"] = json.dumps(row["extra"])
            records.append(tuple(row[k] for k in MESSAGE_COLUMNS))
        await raw.copy_records_to_table("messages", records=records, columns=MESSAGE_COLUMNS)


async def _read_through(url: str) -> None:
    engine = make_engine(url, null_pool=True)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT count(*), sum(length(content)) FROM messages"))
            await conn.execute(text("SELECT count(*) FROM messages WHERE conversation_id > 0"))
    finally:
        await engine.dispose()


def _row(plan: Plan, times: list[float], loaded: int, built: float | None) -> Row:
    p99 = percentile(times, 99)
    how = "reused (bench_marker)" if built is None else f"built in {built:.0f} s"
    conditions = (
        f"{count(plan.messages)} messages in {count(plan.conversations)} conversations on "
        f"PostgreSQL ({how}, read through once first); {count(len(times))} sequential "
        f"load_context(key, {CONTEXT_MESSAGES}) calls for random conversations over asyncpg, "
        f"{loaded / max(1, len(times)):.0f} messages each on average; "
        f"max {ms(max(times, default=0))}"
    )
    measured = f"p50 {ms(percentile(times, 50))} / p99 {ms(p99)}"
    return make_row(NAME, measured, bool(times) and p99 < GOAL_SECONDS, conditions)
