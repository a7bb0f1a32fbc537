"""Discord REST calls and 429s counted by route, and the adapter's ``connected()``, against
the fake Discord (real discord.py over loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from adapters.discord import create
from adapters.discord.adapter import DiscordAdapter
from bot.adapter import AdapterContext
from bot.app import open_core
from bot.config import EnvReader, load_settings
from tests.discord.harness import bot_env, finished
from tests.fakes.discord_api import FakeDiscord, opt
from tests.fakes.llm_server import FakeLLMServer, answer

POST_MESSAGE = "POST /channels/{id}/messages"


async def test_rest_calls_and_429s_are_counted_by_route_and_connected_follows_the_client(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    settings = load_settings(EnvReader(bot_env(fake, llm, tmp_path)))
    async with open_core(settings) as core:
        context = AdapterContext(
            core.engine, core.replies, settings.env, settings, core.store, metrics=core.metrics
        )
        adapter = create(context)
        assert isinstance(adapter, DiscordAdapter)
        assert not adapter.connected()
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        await fake.wait_ready(1)
        await fake.wait_until(adapter.connected)

        llm.enqueue(answer("Counted on the way out."))
        fake.inject("POST", r"/channels/\d+/messages$", 429, times=1, retry_after=0.05)
        await fake.slash("chat", [opt("prompt", "count me")])
        threads = await fake.wait_until(lambda: fake.threads_of(fake.general))
        await finished(fake, int(threads[0]["id"]))

        def sample(name: str, route: str) -> float | None:
            labels = {"platform": "discord", "method": route}
            return core.metrics.registry.get_sample_value(name, labels)

        assert sample("threadline_platform_rate_limited_total", POST_MESSAGE) == 1
        assert sample("threadline_platform_calls_total", POST_MESSAGE) >= 2  # 429, then the retry
        assert sample("threadline_platform_calls_total", "GET /users/@me") == 1
        await asyncio.wait_for(core.engine.close(), 10)
        stop.set()
        await asyncio.wait_for(task, 15)
        assert not adapter.connected()
