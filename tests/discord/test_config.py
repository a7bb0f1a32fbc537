"""Configuration checks, endpoint handling, error mapping and text helpers (pure functions)."""

from __future__ import annotations

import discord
import pytest

from adapters.discord.config import DiscordConfig, load_config
from adapters.discord.endpoints import normalize_api_base
from adapters.discord.errors import to_sink_error
from adapters.discord.text import model_text, prompt_echo, thread_name
from bot.config import EnvReader
from bot.errors import ConfigError, SinkRateLimited


def _config(**env: str) -> DiscordConfig:
    return load_config(EnvReader({"DISCORD_TOKEN": "abc.def.ghi", **env}))


def test_only_the_token_is_required_and_defaults_are_sensible() -> None:
    config = _config()
    assert config.token.get() == "abc.def.ghi"
    assert config.api_base is None and config.gateway_url is None
    assert config.mention_mode == "thread" and config.allow_dms and not config.answer_bots
    assert config.message_content and config.sync_commands == "auto"
    assert config.shard_count is None and config.shard_ids == ()
    assert "abc" not in repr(config)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DISCORD_TOKEN": ""}, "DISCORD_TOKEN is not set"),
        ({"DISCORD_TOKEN": "Bot abc"}, "without 'Bot '"),
        ({"DISCORD_MENTION_MODE": "shout"}, "DISCORD_MENTION_MODE"),
        ({"DISCORD_ALLOW_DMS": "maybe"}, "DISCORD_ALLOW_DMS"),
        ({"DISCORD_GATEWAY_URL": "http://x.example"}, "DISCORD_GATEWAY_URL"),
        ({"DISCORD_API_BASE": "ftp://x"}, "DISCORD_API_BASE"),
        ({"DISCORD_SHARD_IDS": "0,1"}, "needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"}, "between 0 and 1"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "a"}, "DISCORD_SHARD_IDS"),
        ({"DISCORD_SHARD_COUNT": "0"}, "DISCORD_SHARD_COUNT"),
        ({"DISCORD_DEV_GUILD": "guild"}, "DISCORD_DEV_GUILD"),
        ({"DISCORD_THREAD_ARCHIVE_MINUTES": "5"}, "DISCORD_THREAD_ARCHIVE_MINUTES"),
        ({"DISCORD_SYNC_COMMANDS": "sometimes"}, "DISCORD_SYNC_COMMANDS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    merged = {"DISCORD_TOKEN": "abc.def.ghi", **env}
    with pytest.raises(ConfigError, match=message):
        load_config(EnvReader(merged))


def test_shards_and_roles_are_parsed() -> None:
    config = _config(
        DISCORD_SHARD_COUNT="4", DISCORD_SHARD_IDS="3, 1", DISCORD_ADMIN_ROLE="Mods, 1234"
    )
    assert config.shard_count == 4 and config.shard_ids == (1, 3)
    assert config.admin_roles == frozenset({"mods", "1234"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v10"),
        ("http://proxy:8080/api", "http://proxy:8080/api/v10"),
        ("http://proxy:8080/api/v9/", "http://proxy:8080/api/v9"),
    ],
)
def test_api_base_gets_the_version_path(given: str, expected: str) -> None:
    assert normalize_api_base(given) == expected
    assert _config(DISCORD_API_BASE=given).api_base == expected


def test_a_long_rate_limit_becomes_sink_rate_limited() -> None:
    error = to_sink_error(discord.RateLimited(45.5), "edit 1")
    assert isinstance(error, SinkRateLimited) and error.retry_after == 45.5


def test_model_text_drops_the_bot_mention_and_names_others() -> None:
    text = model_text(
        "<@42> ask <@!7> about <#9> and <@&5> <@8>", 42, users={7: "bob"}, channels={9: "ops"}
    )
    assert text == "ask @bob about #ops and @role @user"


def test_thread_names_fit_discord() -> None:
    assert thread_name("\n\n  How   do I\nsecond line") == "How do I"
    assert thread_name("   ") == "Threadline chat"
    long = thread_name("x" * 300)
    assert len(long) <= 100 and long.endswith("…")


def test_the_prompt_echo_quotes_every_line() -> None:
    assert prompt_echo(5, "a\n\nb") == "<@5> asked:\n> a\n>\n> b"
    assert len(prompt_echo(5, "y" * 5000)) < 2000
