"""``InteractionSink``: an answer written through an interaction's webhook, "in place".

The first message replaces the deferred "thinking…" response (``PATCH …/messages/@original``),
later ones are followups; neither needs channel permissions. Interaction tokens live 15
minutes, so once fewer than ``TOKEN_MARGIN`` remain the sink moves on to ordinary channel
messages: a message still being edited is re-posted as a channel message (the webhook copy is
deleted while the token still works) and its id is aliased, so the reply never notices.
Requests go through discord.py's ``HTTPClient`` (not its webhook adapter, which would sleep on
a 429 without bound), so ``max_ratelimit_timeout`` and the 429 mapping apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
from discord.http import Route

from adapters.discord.errors import call
from adapters.discord.sink import NO_MENTIONS, ChannelSink, checked_text
from adapters.discord.views import answer_components
from bot.errors import SinkError
from bot.model import ConversationKey
from bot.reply.base import SinkLimits

logger = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(minutes=15)
TOKEN_MARGIN = timedelta(seconds=90)
HOOK = "/webhooks/{webhook_id}/{webhook_token}"


@dataclass(frozen=True, slots=True)
class InteractionToken:
    """What is needed to write through an interaction's webhook, and until when."""

    application_id: int
    token: str
    channel_id: int
    expires_at: datetime

    @classmethod
    def of(cls, interaction: discord.Interaction[Any]) -> InteractionToken:
        return cls(
            application_id=interaction.application_id,
            token=interaction.token,
            channel_id=interaction.channel_id or 0,
            expires_at=interaction.created_at + TOKEN_LIFETIME,
        )


class InteractionSink:
    """Webhook writes while the token is fresh, channel messages afterwards."""

    def __init__(
        self,
        client: discord.Client,
        token: InteractionToken,
        key: ConversationKey,
        *,
        original_used: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._token = token
        self._key = key
        self._clock = clock
        self._channel = ChannelSink(client, token.channel_id, key)
        self._original_pending = not original_used
        self._hooked: set[str] = set()
        self._alias: dict[str, str] = {}

    @property
    def limits(self) -> SinkLimits:
        return self._channel.limits

    def sanitize(self, text: str) -> str:
        return text

    def fresh(self) -> bool:
        """Whether the token still has more than ``TOKEN_MARGIN`` to live."""
        return self._clock() < self._token.expires_at - TOKEN_MARGIN

    async def post(self, text: str, *, final: bool) -> str:
        if not self.fresh():
            await self._drop_pending_original()
            return await self._channel.post(text, final=final)
        if self._original_pending:
            data = await self._hook("PATCH", "/messages/@original", text, final)
            self._original_pending = False
        else:
            data = await self._hook("POST", "", text, final, params={"wait": "true"})
        message_id = str(data["id"])
        self._hooked.add(message_id)
        return message_id

    async def edit(self, message_id: str, text: str, *, final: bool) -> None:
        target = self._alias.get(message_id, message_id)
        if target not in self._hooked:
            await self._channel.edit(target, text, final=final)
        elif self.fresh():
            await self._hook("PATCH", "/messages/{message_id}", text, final, message_id=target)
        else:
            await self._move_to_channel(message_id, target, text, final)

    async def _move_to_channel(self, message_id: str, target: str, text: str, final: bool) -> None:
        logger.info("interaction token for %s nearly expired; continuing in the channel", self._key)
        new_id = await self._channel.post(text, final=final)
        self._alias[message_id] = new_id
        self._hooked.discard(target)
        await self._delete(target)

    async def _drop_pending_original(self) -> None:
        if self._original_pending:
            self._original_pending = False
            await self._delete("@original")

    async def _delete(self, message_id: str) -> None:
        """Best effort: remove a webhook message the channel copy replaces."""
        path = "/messages/@original" if message_id == "@original" else "/messages/{message_id}"
        route = self._route("DELETE", path, message_id)
        try:
            await call(f"delete {message_id}", self._client.http.request(route))
        except SinkError as exc:
            logger.info("could not delete the interaction message %s: %s", message_id, exc)

    def _route(self, method: str, path: str, message_id: str | None = None) -> Route:
        params = {"message_id": message_id} if "{message_id}" in path else {}
        return Route(
            method,
            HOOK + path,
            webhook_id=self._token.application_id,
            webhook_token=self._token.token,
            **params,
        )

    async def _hook(
        self,
        method: str,
        path: str,
        text: str,
        final: bool,
        *,
        params: dict[str, str] | None = None,
        message_id: str | None = None,
    ) -> dict[str, Any]:
        payload = {
            "content": checked_text(text),
            "allowed_mentions": NO_MENTIONS.to_dict(),
            "components": answer_components(self._key, final=final),
        }
        route = self._route(method, path, message_id)
        what = f"{method} interaction message in {self._token.channel_id}"
        data: dict[str, Any] = await call(
            what, self._client.http.request(route, json=payload, params=params)
        )
        return data
