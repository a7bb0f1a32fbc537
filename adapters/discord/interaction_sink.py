"""``InteractionSink``: an answer written through an interaction's webhook, "in place".

The first message replaces the deferred "thinking…" response (``PATCH …/messages/@original``),
later ones are followups; neither needs channel permissions. Interaction tokens live 15
minutes, so once fewer than ``TOKEN_MARGIN`` remain the sink moves on to ordinary channel
messages: an edit of a webhook message then deletes it (while the token still works) and
raises ``SinkMessageGone``, and the core re-posts its text, now as a channel message.
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
from adapters.discord.sink import (
    NO_MENTIONS,
    ButtonPlan,
    Buttons,
    ChannelWriter,
    checked_text,
    sink_limits,
    thinking_view,
    view_for,
)
from bot.errors import SinkError, SinkMessageGone
from bot.model import ConversationKey
from bot.reply.base import SinkLimits

logger = logging.getLogger(__name__)

TOKEN_LIFETIME = timedelta(minutes=15)
TOKEN_MARGIN = timedelta(seconds=90)
HOOK = "/webhooks/{webhook_id}/{webhook_token}"
ORIGINAL = "@original"


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
        self._channel = ChannelWriter(client, token.channel_id)
        self.channel_id = token.channel_id
        self._limits = sink_limits(token.channel_id)
        self._plan = ButtonPlan()
        self.buttons = self._plan
        self._original_pending = not original_used
        self._hooked: set[str] = set()

    @property
    def limits(self) -> SinkLimits:
        return self._limits

    def sanitize(self, text: str) -> str:
        return text

    def thinking(self, tail: str) -> str:
        """Reasoning shown as in channel answers: a spoiler under a small header."""
        return thinking_view(tail)

    def fresh(self) -> bool:
        """Whether the token still has more than ``TOKEN_MARGIN`` to live."""
        return self._clock() < self._token.expires_at - TOKEN_MARGIN

    async def post(self, text: str, *, final: bool, last: bool = False) -> str:
        buttons = self._plan.buttons(final=final, last=last)
        if not self.fresh():
            await self._drop_pending_original()
            return await self._channel.send(text, view_for(self._key, buttons))
        return await self._hook_post(text, buttons)

    async def edit(self, message_id: str, text: str, *, final: bool, last: bool = False) -> None:
        buttons = self._plan.buttons(final=final, last=last)
        if message_id not in self._hooked:
            await self._channel.edit(message_id, text, view_for(self._key, buttons))
        elif self.fresh():
            await self._hook_edit(message_id, text, buttons)
        else:
            logger.info(
                "interaction token for %s nearly expired; continuing in the channel", self._key
            )
            self._hooked.discard(message_id)
            await self._delete(message_id)
            raise SinkMessageGone(f"interaction token of message {message_id} is expiring")

    async def _hook_post(self, text: str, buttons: Buttons) -> str:
        if self._original_pending:
            data = await self._hook("PATCH", ORIGINAL, _payload(self._key, text, buttons))
            self._original_pending = False
        else:
            data = await self._hook("POST", None, _payload(self._key, text, buttons))
        message_id = str(data["id"])
        self._hooked.add(message_id)
        return message_id

    async def _hook_edit(self, message_id: str, text: str | None, buttons: Buttons) -> None:
        await self._hook("PATCH", message_id, _payload(self._key, text, buttons))

    async def _drop_pending_original(self) -> None:
        if self._original_pending:
            self._original_pending = False
            await self._delete(ORIGINAL)

    async def _delete(self, message_id: str) -> None:
        """Best effort: remove a webhook message the channel copy replaces."""
        try:
            await self._hook("DELETE", message_id, None)
        except SinkError as exc:
            logger.info("could not delete the interaction message %s: %s", message_id, exc)

    async def _hook(
        self, method: str, message_id: str | None, payload: dict[str, Any] | None
    ) -> dict[str, Any]:
        """One request to the interaction webhook (``message_id=None``: a new followup)."""
        kwargs: dict[str, Any] = {} if payload is None else {"json": payload}
        if message_id is None:
            path, kwargs["params"] = HOOK, {"wait": "true"}
        elif message_id == ORIGINAL:
            path = HOOK + "/messages/@original"
        else:
            path = HOOK + "/messages/{message_id}"
            kwargs["route_params"] = {"message_id": message_id}
        route = Route(
            method,
            path,
            webhook_id=self._token.application_id,
            webhook_token=self._token.token,
            **kwargs.pop("route_params", {}),
        )
        what = f"{method} interaction message {message_id or 'followup'}"
        data: Any = await call(what, self._client.http.request(route, **kwargs))
        return data if isinstance(data, dict) else {}


def _payload(key: ConversationKey, text: str | None, buttons: Buttons) -> dict[str, Any]:
    view = view_for(key, buttons)
    payload: dict[str, Any] = {"components": view.to_components() if view is not None else []}
    if text is not None:
        payload["content"] = checked_text(text)
        payload["allowed_mentions"] = NO_MENTIONS.to_dict()
    return payload
