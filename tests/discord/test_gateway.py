"""Connection: gateway address, MESSAGE_CONTENT refusal (4014), sharding, resumes, bad token."""

from __future__ import annotations

import logging
from pathlib import Path

import discord
import pytest

from bot.errors import ConfigError
from tests.discord.harness import finished, running_bot
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_gateway import MESSAGE_CONTENT
from tests.fakes.llm_server import FakeLLMServer

NOWHERE = "ws://127.0.0.1:9/unreachable"


async def test_without_the_content_intent_it_reconnects_and_keeps_working(
    llm: FakeLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="adapters.discord")
    fake = FakeDiscord(message_content_granted=False)
    async with fake, running_bot(fake, llm, tmp_path):
        assert fake.gateway.closed_with == [4014]
        first, second = fake.gateway.identifies
        assert first["intents"] & MESSAGE_CONTENT and not second["intents"] & MESSAGE_CONTENT
        asked = await fake.user_message(fake.general, "still there?", mention_bot=True)
        await finished(fake, asked.id)
        await fake.user_message(asked.id, "follow-up without a mention")
        await fake.user_message(asked.id, "with a mention", mention_bot=True)
        await finished(fake, asked.id, count=2, text="You said: with a mention")
    assert len(llm.requests) == 2  # the un-mentioned follow-up was unreadable, so ignored
    warnings = [r for r in caplog.records if "MESSAGE_CONTENT" in r.getMessage()]
    assert len(warnings) == 1


async def test_the_gateway_url_variable_wins_over_gateway_bot(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake.advertised_gateway = NOWHERE
    async with running_bot(fake, llm, tmp_path, DISCORD_GATEWAY_URL=fake.gateway_url):
        dm = fake.open_dm("alice")
        await fake.user_message(dm, "via the configured gateway")
        await finished(fake, dm)


async def test_the_recommended_shard_count_is_used(llm: FakeLLMServer, tmp_path: Path) -> None:
    fake = FakeDiscord(recommended_shards=2, max_concurrency=2)
    async with fake, running_bot(fake, llm, tmp_path, sessions=2):
        shards = sorted(tuple(i["shard"]) for i in fake.gateway.identifies)
        assert shards == [(0, 2), (1, 2)]
        asked = await fake.user_message(fake.general, "sharded", mention_bot=True)
        await finished(fake, asked.id)


async def test_shard_ids_split_an_install_across_processes(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    owner = (fake.guild_id >> 22) % 3
    shard_env = {"DISCORD_SHARD_COUNT": "3", "DISCORD_SHARD_IDS": str(owner)}
    async with running_bot(fake, llm, tmp_path, env=shard_env):
        assert [tuple(i["shard"]) for i in fake.gateway.identifies] == [(owner, 3)]
        asked = await fake.user_message(fake.general, "my shard", mention_bot=True)
        await finished(fake, asked.id)


async def test_an_invalidated_session_reconnects_to_the_configured_gateway(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    async with running_bot(fake, llm, tmp_path):
        await fake.gateway.close_all(code=4000)  # resumable: the client sends RESUME …
        # … the fake answers INVALID_SESSION, and discord.py falls back to its default gateway
        await fake.wait_until(lambda: len(fake.gateway.identifies) == 2)
        await fake.wait_ready()
        dm = fake.open_dm("alice")
        await fake.user_message(dm, "after the reconnect")
        await finished(fake, dm)
    assert discord.http.Route("GET", "/x").url == "https://discord.com/api/v10/x"


async def test_a_refused_token_is_a_configuration_error(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        async with running_bot(fake, llm, tmp_path, DISCORD_TOKEN="not-the-token"):
            pass


async def test_without_gateway_bot_the_configured_gateway_is_used(
    fake: FakeDiscord, llm: FakeLLMServer, tmp_path: Path
) -> None:
    fake.inject("GET", r"^/gateway/bot$", 404, 0, "404: Not Found", times=2)
    with pytest.raises(ConfigError, match="DISCORD_GATEWAY_URL"):
        async with running_bot(fake, llm, tmp_path):
            pass
    async with running_bot(fake, llm, tmp_path, DISCORD_GATEWAY_URL=fake.gateway_url):
        dm = fake.open_dm("alice")
        await fake.user_message(dm, "no gateway/bot here")
        await finished(fake, dm)
