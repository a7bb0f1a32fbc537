"""The Discord adapter's life: log in, pick the gateway, connect, serve until asked to stop.

Gateway address: ``DISCORD_GATEWAY_URL`` if set, else the ``url`` of ``GET /gateway/bot`` on
the configured REST base; it is also what discord.py falls back to after an invalidated
session. The shard count is ``DISCORD_SHARD_COUNT`` or the one ``/gateway/bot`` recommends;
this process runs the shards of ``DISCORD_SHARD_IDS`` (all of them without it), so one bot
can be split over processes sharing a database.

If Discord refuses the MESSAGE_CONTENT intent (close code 4014: not enabled in the Developer
Portal), the bot reconnects without it, says so once, and keeps working on @mentions, DMs,
slash commands and buttons; only un-mentioned follow-ups in threads go unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord

from adapters.discord.client import Services, ThreadlineClient
from adapters.discord.endpoints import Endpoints, current_gateway, use_endpoints, use_gateway
from bot.errors import ConfigError

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 10.0
NO_CONTENT_INTENT = (
    "Discord refused the MESSAGE_CONTENT intent (enable 'Message Content Intent' under Bot → "
    "Privileged Gateway Intents in the Developer Portal). Threadline keeps working on "
    "@mentions, DMs, slash commands and buttons, but follow-ups in threads without an "
    "@mention are off until it is enabled."
)


class DiscordAdapter:
    """``Adapter`` for Discord."""

    name = "discord"

    def __init__(self, services: Services) -> None:
        self._services = services
        self.client: ThreadlineClient | None = None
        self._identified: dict[int, float] = {}  # identify times per bucket, across reconnects

    def connected(self) -> bool:
        """Whether the client is ready (every shard it runs said READY) and not closed."""
        client = self.client
        return client is not None and client.is_ready() and not client.is_closed()

    async def run(self, stop: asyncio.Event) -> None:
        config = self._services.config
        # Threadline never joins voice: skip discord.py's "PyNaCl/davey is not installed" noise.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        use_endpoints(Endpoints(api_base=config.api_base, gateway=config.gateway_url))
        message_content = config.message_content
        if not message_content:
            logger.info("DISCORD_MESSAGE_CONTENT=false: follow-ups need an @mention")
        while True:
            try:
                await self._serve(stop, message_content)
                return
            except discord.PrivilegedIntentsRequired:
                if not message_content:
                    raise ConfigError(
                        "Discord refused the gateway intents Threadline needs."
                    ) from None
                logger.warning(NO_CONTENT_INTENT)
                message_content = False

    async def _serve(self, stop: asyncio.Event, message_content: bool) -> None:
        client = ThreadlineClient(
            self._services, message_content=message_content, identified=self._identified
        )
        self.client = client
        async with client:
            await self._login(client)
            await self._prepare_gateway(client)
            await self._connect_until(client, stop)

    async def _login(self, client: ThreadlineClient) -> None:
        try:
            await client.login(self._services.config.token.get())
        except discord.LoginFailure:
            raise ConfigError(
                "Discord refused DISCORD_TOKEN (401 Unauthorized): copy the bot token again "
                "from the Developer Portal (Bot → Reset Token)."
            ) from None

    async def _prepare_gateway(self, client: ThreadlineClient) -> None:
        config = self._services.config
        if config.gateway_url and client.shard_count is not None:
            return
        try:
            shards, url, limits = await client.http.get_bot_gateway()
        except discord.GatewayNotFound as exc:
            if not config.gateway_url:
                raise ConfigError(
                    "GET /gateway/bot failed, so the Discord gateway address is unknown: check "
                    "DISCORD_API_BASE, or set DISCORD_GATEWAY_URL."
                ) from exc
            logger.warning("GET /gateway/bot failed (%s); using 1 shard", exc.__cause__)
            shards, url, limits = 1, config.gateway_url, {"max_concurrency": 1}
        client.identify_concurrency = int(limits.get("max_concurrency", 1) or 1)
        if not config.gateway_url:
            use_gateway(url)
        if client.shard_count is None:
            client.shard_count = shards
        logger.info(
            "Discord gateway %s, %d shard(s), this process runs %s",
            current_gateway(),
            client.shard_count,
            f"shards {sorted(client.shard_ids)}" if client.shard_ids else "all of them",
        )

    async def _connect_until(self, client: ThreadlineClient, stop: asyncio.Event) -> None:
        connection = asyncio.create_task(client.connect(reconnect=True), name="discord-gateway")
        stopping = asyncio.create_task(stop.wait(), name="discord-stop")
        try:
            await asyncio.wait({connection, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if connection.done():
            connection.result()
            return
        await client.close()  # ends live answers first (ThreadlineClient.close)
        with contextlib.suppress(asyncio.CancelledError, discord.ConnectionClosed, TimeoutError):
            await asyncio.wait_for(connection, CLOSE_TIMEOUT)
