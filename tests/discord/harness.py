"""An in-process Threadline (real core, store and Discord adapter) against the fakes.

The real discord.py client talks to ``FakeDiscord`` over loopback HTTP and websockets; the
engine talks to ``FakeLLMServer``. ``running_bot`` stops it like the CLI does: live answers are
failed first (engine.close), then the adapter closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.discord import create
from adapters.discord.adapter import DiscordAdapter
from bot.adapter import AdapterContext
from bot.app import open_core
from bot.config import EnvReader, load_settings
from bot.engine import ConversationEngine
from bot.model import ConversationKey
from bot.reply.split import join_parts
from tests.fakes.discord_api import FakeDiscord, StoredMessage
from tests.fakes.llm_server import FakeLLMServer

REGEN_PREFIX = "tl:regen:"
STOP_PREFIX = "tl:stop:"


def bot_env(fake: FakeDiscord, llm: FakeLLMServer, data: Path, **extra: str) -> dict[str, str]:
    """What a user would set, pointing at the fakes."""
    env = {
        **fake.env(),
        "LLM_API_KEY": "sk-test",
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": "fake-model",
        "DATABASE_URL": f"sqlite+aiosqlite:///{data / 'threadline.db'}",
        "THREADLINE_DATA_DIR": str(data),
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


@dataclass
class Bot:
    fake: FakeDiscord
    llm: FakeLLMServer
    engine: ConversationEngine
    adapter: DiscordAdapter


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    llm: FakeLLMServer,
    data: Path,
    *,
    sessions: int = 1,
    env: dict[str, str] | None = None,
    **extra: str,
) -> AsyncIterator[Bot]:
    settings = load_settings(EnvReader(bot_env(fake, llm, data, **(env or {}), **extra)))
    async with open_core(settings) as core:
        context = AdapterContext(core.engine, core.replies, settings.env, settings, core.store)
        adapter = create(context)
        assert isinstance(adapter, DiscordAdapter)
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        ready = asyncio.create_task(fake.wait_ready(sessions))
        await asyncio.wait({task, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()
        await ready
        try:
            yield Bot(fake, llm, core.engine, adapter)
        finally:
            await asyncio.wait_for(core.engine.close(), 10)
            stop.set()
            await asyncio.wait_for(task, 15)


def is_final(message: StoredMessage) -> bool:
    ids = message.custom_ids()
    return any(i.startswith(REGEN_PREFIX) for i in ids)


def is_streaming(message: StoredMessage) -> bool:
    return any(i.startswith(STOP_PREFIX) for i in message.custom_ids())


async def finished(
    fake: FakeDiscord, channel_id: int, count: int = 1, *, text: str | None = None
) -> list[StoredMessage]:
    """Wait until ``count`` answers in the channel are final and nothing streams (and, with
    ``text``, the last answer's messages joined equal it); return all the bot's messages."""

    def done() -> list[StoredMessage] | None:
        found = fake.bot_messages(channel_id)
        if not found or not is_final(found[-1]) or any(is_streaming(m) for m in found):
            return None
        if sum(1 for m in found if is_final(m)) < count:
            return None
        if text is not None and not _ends_with_answer(found, text):
            return None
        return found

    result: list[StoredMessage] = await fake.wait_until(done)
    return result


def _ends_with_answer(messages: list[StoredMessage], text: str) -> bool:
    contents = [m.content for m in messages]
    return any(join_parts(contents[-k:]) == text for k in range(1, len(contents) + 1))


def last_answer(messages: list[StoredMessage]) -> list[StoredMessage]:
    """The messages of the last answer: those after the previous final message."""
    finals = [i for i, m in enumerate(messages) if is_final(m)]
    start = finals[-2] + 1 if len(finals) > 1 else 0
    return [m for m in messages[start:] if not m.content.startswith("<@")]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll an async condition (for state the fakes cannot signal, such as the database)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def stored_status(engine: ConversationEngine, key: ConversationKey, status: str) -> None:
    """Wait until the conversation's last stored message has ``status``."""

    async def stored() -> bool:
        history = await engine.export(key)
        return bool(history) and history[-1].status.value == status

    await eventually(stored)


def answer_texts(messages: list[StoredMessage]) -> list[str]:
    """Contents of the bot's answer messages (not prompt echoes)."""
    return [m.content for m in messages if not m.content.startswith("<@")]


def user_contents(llm: FakeLLMServer, index: int = -1) -> list[str]:
    body: dict[str, Any] = llm.requests[index].body
    return [str(m["content"]) for m in body["messages"] if m["role"] != "system"]
