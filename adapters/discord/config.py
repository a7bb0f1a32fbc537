"""The Discord adapter's settings, validated once at start (``ConfigError`` names the variable).

Only ``DISCORD_TOKEN`` is required. Defaults: @mentions in a channel open a thread
(``DISCORD_MENTION_MODE=thread``), DMs are answered, other bots are ignored, the
MESSAGE_CONTENT intent is requested (and dropped automatically if the portal does not grant
it), commands are synced globally when their definitions change.

Sharding across processes: ``DISCORD_SHARD_COUNT`` is the total number of shards and
``DISCORD_SHARD_IDS`` the ones this process runs (comma-separated, each below the count, none
twice; it needs the count). Every process of one bot uses the same count and one database.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.discord.endpoints import normalize_api_base
from bot.config import EnvReader, Secret
from bot.errors import ConfigError

MENTION_MODES = ("thread", "reply")
SYNC_MODES = ("auto", "always", "never")
ARCHIVE_MINUTES = (60, 1440, 4320, 10080)


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    """Validated Discord settings."""

    token: Secret
    api_base: str | None
    gateway_url: str | None
    message_content: bool
    mention_mode: str
    allow_dms: bool
    answer_bots: bool
    admin_roles: frozenset[str]
    dev_guild: int | None
    sync_commands: str
    shard_count: int | None
    shard_ids: tuple[int, ...]
    archive_minutes: int


def load_config(env: EnvReader) -> DiscordConfig:
    """Read and check every ``DISCORD_*`` variable."""
    shard_count = _optional_int(env, "DISCORD_SHARD_COUNT", low=1)
    return DiscordConfig(
        token=_token(env),
        api_base=_api_base(env),
        gateway_url=_gateway(env),
        message_content=env.flag("DISCORD_MESSAGE_CONTENT", True),
        mention_mode=env.choice("DISCORD_MENTION_MODE", "thread", MENTION_MODES),
        allow_dms=env.flag("DISCORD_ALLOW_DMS", True),
        answer_bots=env.flag("DISCORD_ANSWER_BOTS", False),
        admin_roles=frozenset(role.lower() for role in env.items("DISCORD_ADMIN_ROLE")),
        dev_guild=_optional_int(env, "DISCORD_DEV_GUILD", low=1),
        sync_commands=env.choice("DISCORD_SYNC_COMMANDS", "auto", SYNC_MODES),
        shard_count=shard_count,
        shard_ids=_shard_ids(env, shard_count),
        archive_minutes=_archive_minutes(env),
    )


def _token(env: EnvReader) -> Secret:
    value = env.text("DISCORD_TOKEN")
    if not value:
        raise ConfigError(
            "DISCORD_TOKEN is not set: copy the bot token from the Discord Developer Portal "
            "(your application → Bot → Reset Token), see docs/discord.md."
        )
    if value.lower().startswith("bot "):
        raise ConfigError("DISCORD_TOKEN=(hidden) is not valid: give the token without 'Bot '.")
    if any(ch.isspace() for ch in value):
        raise ConfigError("DISCORD_TOKEN=(hidden) is not valid: a token has no spaces.")
    return env.secret("DISCORD_TOKEN")  # also refuses non-ASCII (it goes into HTTP headers)


def _api_base(env: EnvReader) -> str | None:
    if not env.is_set("DISCORD_API_BASE"):
        return None
    return normalize_api_base(env.url("DISCORD_API_BASE", ""))


def _gateway(env: EnvReader) -> str | None:
    def parse(text: str) -> str:
        if not text.startswith(("ws://", "wss://")) or len(text) < 8:
            raise ValueError
        return text

    value: str | None = env.convert("DISCORD_GATEWAY_URL", None, parse, "a ws:// or wss:// URL")
    return value


def _optional_int(env: EnvReader, name: str, *, low: int) -> int | None:
    if not env.is_set(name):
        return None
    return env.integer(name, 0, low=low)


def _shard_ids(env: EnvReader, count: int | None) -> tuple[int, ...]:
    raw = env.items("DISCORD_SHARD_IDS")
    if not raw:
        return ()
    if count is None:
        raise ConfigError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total shard count).")
    try:
        numbers = [int(item) for item in raw]
    except ValueError:
        raise ConfigError(
            f"DISCORD_SHARD_IDS={env.text('DISCORD_SHARD_IDS')!r} is not valid: "
            "expected comma-separated shard numbers, e.g. 0,1."
        ) from None
    ids = tuple(sorted(set(numbers)))
    if len(ids) != len(numbers):
        raise ConfigError(
            f"DISCORD_SHARD_IDS={env.text('DISCORD_SHARD_IDS')!r} names a shard twice."
        )
    if ids[0] < 0 or ids[-1] >= count:
        raise ConfigError(
            f"DISCORD_SHARD_IDS must be between 0 and {count - 1} (DISCORD_SHARD_COUNT={count})."
        )
    return ids


def _archive_minutes(env: EnvReader) -> int:
    def parse(text: str) -> int:
        value = int(text)
        if value not in ARCHIVE_MINUTES:
            raise ValueError
        return value

    accepted = "one of " + ", ".join(str(m) for m in ARCHIVE_MINUTES)
    minutes: int = env.convert("DISCORD_THREAD_ARCHIVE_MINUTES", 1440, parse, accepted)
    return minutes
