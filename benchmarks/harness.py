"""A bot assembled from real parts, as ``bot.app`` does, against loopback fakes.

Real: SQLite store in a temporary directory (real Alembic migrations), the httpx client, the
``ConversationEngine``, ``ProgressiveReply`` through one ``ReplyFactory``. Fake: the LLM server
(``benchmarks.llm_proc``, another process) and the chat platform (``tests.fakes.sink``, an
in-memory ``FakeSink`` that enforces rate budgets and message size).
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry

from bot.app import engine_config
from bot.config import EnvReader, load_settings
from bot.engine import ConversationEngine
from bot.llm.base import ChatModel
from bot.llm.client import ChatCompletionsClient, LLMTimeouts, build_http_client
from bot.metrics import Metrics
from bot.model import ConversationKey, IncomingMessage
from bot.reply.clock import Clock, SystemClock
from bot.reply.factory import ReplyFactory
from bot.reply.progressive import ProgressiveReply
from bot.reply.scheduler import RateScheduler
from bot.store.db import open_store
from bot.store.migrate import upgrade_async
from bot.store.sql import SqlConversationStore
from tests.fakes.sink import FakePlatform, FakeSink

API_KEY = "bench-key"

# Discord-like limits for one channel: the budget every stream in that channel shares.
CHANNEL_MAX_CHARS = 2000
CHANNEL_EDITS_PER_MINUTE = 50.0
CHANNEL_BURST = 4


@dataclass
class Bot:
    """The parts a benchmark drives."""

    engine: ConversationEngine
    store: SqlConversationStore
    factory: ReplyFactory
    platform: FakePlatform
    clock: Clock
    http: httpx.AsyncClient

    def sink(self, scope: str) -> FakeSink:
        """A Discord-like channel target whose rate scope is ``scope``."""
        return FakeSink(
            self.platform,
            scope=scope,
            max_chars=CHANNEL_MAX_CHARS,
            edits_per_minute=CHANNEL_EDITS_PER_MINUTE,
            burst=CHANNEL_BURST,
        )

    def reply(self, scope: str) -> ProgressiveReply:
        return self.factory.create(self.sink(scope))


class CountingReply:
    """A ``StreamedReply`` wrapper that keeps ``live.streaming``: replies with text, not closed."""

    def __init__(self, inner: ProgressiveReply, live: Live) -> None:
        self._inner = inner
        self._live = live
        self._streaming = False

    @property
    def message_ids(self) -> list[str]:
        return self._inner.message_ids

    async def start(self) -> None:
        await self._inner.start()

    async def append(self, text: str) -> None:
        if not self._streaming:
            self._streaming = True
            self._live.streaming += 1
        await self._inner.append(text)

    async def finish(self) -> None:
        self._closed()
        await self._inner.finish()

    async def fail(self, notice: str) -> None:
        self._closed()
        await self._inner.fail(notice)

    async def stop(self) -> None:
        self._closed()
        await self._inner.stop()

    def _closed(self) -> None:
        if self._streaming:
            self._streaming = False
            self._live.streaming -= 1


@dataclass
class Live:
    """How many replies are streaming right now."""

    streaming: int = 0


def conversation(index: int) -> ConversationKey:
    """The key of benchmark conversation ``index`` (a thread in its own channel)."""
    return ConversationKey("bench", "W1", f"C{index}", f"T{index}")


def message(key: ConversationKey, number: int, text: str) -> IncomingMessage:
    return IncomingMessage(key, f"m{number}", "U1", "Bench User", text)


@asynccontextmanager
async def running_bot(
    base_url: str,
    *,
    max_concurrent: int,
    timeouts: LLMTimeouts,
    workdir: Path | None = None,
    model: ChatModel | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[Bot]:
    """A migrated store, an HTTP client and an engine, torn down on exit.

    ``model`` replaces the real completions client (to measure the layers above it alone).
    """
    with tempfile.TemporaryDirectory(prefix="threadline-bench-", dir=workdir) as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await upgrade_async(url)
        async with open_store(url) as store, build_http_client(base_url, 5.0) as http:
            settings = load_settings(EnvReader({"LLM_API_KEY": API_KEY}))
            config = replace(engine_config(settings), max_concurrent=max_concurrent)
            metrics = metrics or Metrics(CollectorRegistry())  # recorded as in production
            client = model or ChatCompletionsClient(
                http, api_key=API_KEY, timeouts=timeouts, max_retries=0, metrics=metrics
            )
            engine = ConversationEngine(store, client, config, metrics=metrics)
            clock = SystemClock()
            factory = ReplyFactory(RateScheduler(clock), clock)
            yield Bot(engine, store, factory, FakePlatform(clock), clock, http)
