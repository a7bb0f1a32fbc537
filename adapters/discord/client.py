"""The discord.py client Threadline runs: sharded, mention-safe, never sleeping long on 429s.

- ``AutoShardedClient``: one process serves every shard by default, or the shards named by
  ``DISCORD_SHARD_IDS`` out of ``DISCORD_SHARD_COUNT`` when an install is split across
  processes.
- Intents: guilds, guild and DM messages, and MESSAGE_CONTENT when requested (needed to read
  un-mentioned follow-ups in threads).
- ``allowed_mentions=AllowedMentions.none()`` as the client default (every sink request sets it
  again), ``max_ratelimit_timeout=30`` (discord.py's minimum): a longer wait raises
  ``RateLimited`` instead of sleeping inside the call.
- No message or member caches: edits and deletes come as raw events.
- Gateway events discord.py cannot parse are dropped with one log line (``parsers``) instead of
  ending the client.
- ``close`` ends every live answer first (``Runtime.drain``), then lets discord.py close the HTTP
  session those answers write through.
- IDENTIFY pacing follows ``session_start_limit.max_concurrency``: shards in different
  buckets (``shard_id % max_concurrency``) identify together, and one bucket waits 5 s only
  after an identify of its own (discord.py's default sleeps 5 s before every later identify).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.state import AutoShardedConnectionState

from adapters.discord.acknowledge import acknowledge, quietly
from adapters.discord.buttons import Buttons
from adapters.discord.commands import SlashCommands, build_commands
from adapters.discord.config import DiscordConfig
from adapters.discord.endpoints import route_name
from adapters.discord.keys import KeyResolver
from adapters.discord.messages import MessageHandler
from adapters.discord.parsers import GuardedState
from adapters.discord.runtime import Runtime
from adapters.discord.shortcuts import MessageMenus
from adapters.discord.sync import sync_commands
from adapters.discord.upkeep import Upkeep
from adapters.discord.views import BUTTONS_ATTRIBUTE, AnswerButton
from bot.engine import ConversationEngine
from bot.metrics import Metrics
from bot.store.state import StateStore

if TYPE_CHECKING:
    from bot.reply.factory import ReplyFactory

logger = logging.getLogger(__name__)

MAX_RATELIMIT_TIMEOUT = 30.0
IDENTIFY_WINDOW = 5.0
CLOSE_TIMEOUT = 10.0
COMMAND_FAILED = "Something went wrong while running that command. Please try again."


@dataclass(frozen=True, slots=True)
class Services:
    """The core's services and the adapter's settings, as the client needs them."""

    engine: ConversationEngine
    replies: ReplyFactory
    config: DiscordConfig
    state: StateStore
    """The database's shared state and locks (commands are synced once across processes)."""
    metrics: Metrics = field(default_factory=Metrics.off)
    """Counts every REST call and 429 by route (an aiohttp trace on discord.py's session)."""


def build_intents(message_content: bool) -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = message_content
    return intents


class ThreadlineClient(discord.AutoShardedClient):
    """Routes gateway events and interactions to Threadline's handlers."""

    def __init__(
        self,
        services: Services,
        *,
        message_content: bool,
        identified: dict[int, float] | None = None,
    ) -> None:
        config = services.config
        super().__init__(
            intents=build_intents(message_content),
            shard_count=config.shard_count,
            shard_ids=list(config.shard_ids) or None,  # type: ignore[arg-type]
            max_ratelimit_timeout=MAX_RATELIMIT_TIMEOUT,
            allowed_mentions=discord.AllowedMentions.none(),
            max_messages=None,
            member_cache_flags=discord.MemberCacheFlags.none(),
            chunk_guilds_at_startup=False,
            http_trace=services.metrics.http_trace("discord", route_name),
        )
        self._services = services
        runtime = Runtime(
            self, services.engine, services.replies, config, message_content, KeyResolver(self)
        )
        self.runtime = runtime
        self.tree: app_commands.CommandTree[ThreadlineClient] = app_commands.CommandTree(self)
        self.tree.error(self._command_failed)
        for command in build_commands(SlashCommands(runtime)):
            self.tree.add_command(command)
        for menu in MessageMenus(runtime).commands():
            self.tree.add_command(menu)
        self.identify_concurrency = 1
        self._identified = identified if identified is not None else {}
        self._messages = MessageHandler(runtime)
        self._upkeep = Upkeep(runtime)
        setattr(self, BUTTONS_ATTRIBUTE, Buttons(runtime))

    def _get_state(self, **options: Any) -> AutoShardedConnectionState[Any]:
        """discord.py's state with guarded parsers (see ``adapters.discord.parsers``)."""
        return GuardedState(
            dispatch=self.dispatch,
            handlers=self._handlers,
            hooks=self._hooks,
            http=self.http,
            **options,
        )

    async def close(self) -> None:
        """End live answers while their HTTP session is open, then close the client.

        discord.py calls ``close`` itself when a shard ends for good (``AutoShardedClient.connect``
        on a fatal close code or error) and closes the HTTP session at once; overriding ``close``
        keeps the order on that path as on a requested shutdown.
        """
        self.runtime.engine.leave_platform("discord")
        if not self.is_closed():
            await self.runtime.drain(CLOSE_TIMEOUT)
        await super().close()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(AnswerButton)
        config = self._services.config
        await sync_commands(
            self.tree,
            self.application_id or 0,
            self._services.state,
            mode=config.sync_commands,
            dev_guild=config.dev_guild,
        )

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        bucket = (shard_id or 0) % max(1, self.identify_concurrency)
        loop = asyncio.get_running_loop()
        last = self._identified.get(bucket)
        if last is not None and last + IDENTIFY_WINDOW > loop.time():
            await asyncio.sleep(last + IDENTIFY_WINDOW - loop.time())
        self._identified[bucket] = loop.time()

    async def on_ready(self) -> None:
        # Connected: answers owed in Discord conversations (a restart, a replica that died)
        # may be taken over by this process from now on.
        self.runtime.engine.serve_platform("discord", self.runtime.rebuild)
        user = self.user
        logger.info(
            "Discord: connected as %s (id %s) in %d servers, shards %s",
            user,
            user.id if user else "?",
            len(self.guilds),
            sorted(self.shards),
        )

    async def on_message(self, message: discord.Message) -> None:
        self.runtime.track()
        await self._messages.on_message(message)

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self.runtime.track()
        await self._upkeep.on_edit(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.runtime.track()
        await self._upkeep.on_delete(payload)

    async def _command_failed(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Log the failure and tell the user; never raises (nothing would retrieve it)."""
        logger.error("slash command failed: %s", error, exc_info=error)
        if interaction.response.is_done():
            followup = interaction.followup.send(COMMAND_FAILED, ephemeral=True)
            await quietly(interaction, "failure notice", followup)
        else:
            notice = interaction.response.send_message(COMMAND_FAILED, ephemeral=True)
            await acknowledge(interaction, "failure notice", notice)
