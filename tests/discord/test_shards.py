"""One Discord bot split over two ``threadline run`` processes on one PostgreSQL database.

``DISCORD_SHARD_COUNT=2`` with ``DISCORD_SHARD_IDS=0`` in one process and ``=1`` in the other:
each identifies with its own shard only, a message in a guild is answered by the process that
runs the guild's shard, and the slash commands are registered once (the hash and the lock are
in the database, not in each process's data directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.config import load_config
from bot.config import EnvReader
from bot.errors import ConfigError
from tests.discord.harness import bot_env, finished
from tests.discord.process import START_SECONDS
from tests.fakes import discord_payloads as p
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.process import Process, spawned_run
from tests.store.conftest import pg_database

SHARDS = 2


def shard_of(guild_id: int) -> int:
    return (guild_id >> 22) % SHARDS


class TwoGuilds(FakeDiscord):
    """The fake with a second guild that lands on the other shard of two."""

    def _build_world(self) -> None:
        super()._build_world()
        now = time.time() * 1000
        other = p.snowflake(now)
        while shard_of(other) == shard_of(self.guild_id):
            now += 1
            other = p.snowflake(now)
        self.other_guild = other
        self.other_general = p.snowflake()
        self.channels[self.other_general] = p.text_channel(self.other_general, other, "general")

    def guild_ids(self) -> list[int]:
        return [self.guild_id, self.other_guild]

    def guild_payload(self, guild_id: int) -> dict[str, Any]:
        payload = super().guild_payload(guild_id)
        payload["channels"] = [c for c in payload["channels"] if int(c["guild_id"]) == guild_id]
        if guild_id == self.other_guild:
            payload["roles"] = [p.role(guild_id, "@everyone", p.MEMBER_PERMISSIONS)]
        return payload


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_database() as url:
        yield url


@pytest.fixture
async def llm() -> Any:
    async with FakeLLMServer() as server:
        yield server


def _process_env(
    fake: FakeDiscord, llm: FakeLLMServer, workdir: Path, pg_url: str, shard: int
) -> dict[str, str]:
    data = workdir / f"shard-{shard}"  # a data directory each, as on two hosts
    data.mkdir()
    return bot_env(
        fake,
        llm,
        data,
        DATABASE_URL=pg_url,
        DISCORD_SHARD_COUNT=str(SHARDS),
        DISCORD_SHARD_IDS=str(shard),
        DISCORD_MENTION_MODE="reply",
    )


def _answered_in(process: Process, channel: int) -> bool:
    """Whether the process's log says it completed an answer in ``channel``."""
    return any(
        f":{channel}" in line and "answer complete" in line
        for line in process.output().splitlines()
    )


async def test_two_processes_split_the_shards_and_sync_commands_once(
    llm: FakeLLMServer, tmp_path: Path, pg_url: str
) -> None:
    async with TwoGuilds() as fake, contextlib.AsyncExitStack() as stack:
        processes = [
            await stack.enter_async_context(
                spawned_run(_process_env(fake, llm, tmp_path, pg_url, shard), tmp_path)
            )
            for shard in range(SHARDS)
        ]  # both start at once: they race for the command sync
        try:
            await fake.wait_ready(SHARDS, within=START_SECONDS)
        except TimeoutError:
            raise AssertionError("\n".join(proc.output() for proc in processes)) from None
        shards = sorted(tuple(identify["shard"]) for identify in fake.gateway.identifies)
        assert shards == [(0, SHARDS), (1, SHARDS)]
        channels = {shard_of(fake.guild_id): fake.general, shard_of(fake.other_guild): 0}
        channels[shard_of(fake.other_guild)] = fake.other_general  # one channel per shard
        for shard, channel in channels.items():
            await fake.user_message(channel, f"hello shard {shard}", mention_bot=True)
            await finished(fake, channel, text=f"You said: hello shard {shard}")
        for shard, channel in channels.items():
            owner, other = processes[shard], processes[1 - shard]
            await _eventually(lambda owner=owner, channel=channel: _answered_in(owner, channel))
            assert not _answered_in(other, channel)
            assert f"this process runs shards [{shard}]" in owner.output()
    assert fake.command_puts == ["global"]
    assert len(llm.requests) == SHARDS


async def _eventually(check: Any, within: float = 10.0) -> None:
    """Poll a log file (no event to wait on: the log is written by another process)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,1"}, "names a shard twice"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "0,2"}, "between 0 and 1"),
        ({"DISCORD_SHARD_IDS": "0"}, "needs DISCORD_SHARD_COUNT"),
    ],
)
def test_shard_settings_are_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(EnvReader({"DISCORD_TOKEN": "abc", **env}))
