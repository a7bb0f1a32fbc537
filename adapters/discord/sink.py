"""``ChannelSink``: an answer written as ordinary messages in a channel, thread or DM.

Limits: 2,000 characters per message (the core's splitter rolls over before that, keeping code
fences intact); edits share a per-channel budget (``discord:channel:<id>``) and posts another
(``…:post``), since Discord keeps one bucket per route (``PATCH …/messages/{id}`` and
``POST …/messages``), each about 5 writes per 5 s per channel. Every request carries
``AllowedMentions.none()``, so model output can never ping ``@everyone``, a role or a user.
The client is built with ``max_ratelimit_timeout`` so discord.py never sleeps longer than 30 s
inside a call; longer waits come back as ``SinkRateLimited`` for the scheduler to honour.
An edit refused because the thread was archived unarchives it once and retries.

Buttons (``ButtonPlan``): Stop on a message while it streams; Regenerate and feedback only on
the answer's last message, none on a finished part. The reply says which role each message has
(``final``/``last``), so the sink never reads the reply's state.

Reasoning (``show_reasoning`` collapsed) shows in the placeholder as ``-# Thinking…`` over a
spoiler holding its tail (``thinking_view``); the answer's first text replaces it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

import discord

from adapters.discord.errors import THREAD_ARCHIVED, call, error_code
from adapters.discord.views import answer_view
from bot.errors import SinkError, SinkMessageGone
from bot.model import ConversationKey
from bot.reply.base import Role, SinkLimits, grapheme_tail
from bot.reply.units import TextUnit

logger = logging.getLogger(__name__)

T = TypeVar("T")
Buttons = Literal["stop", "final", "none"]

MAX_CHARS = 2000
EDITS_PER_MINUTE = 50.0
EDIT_BURST = 4
MIN_EDIT_INTERVAL = 1.0
PLACEHOLDER = "…"
NO_MENTIONS = discord.AllowedMentions.none()
BUTTONS: dict[Role, Buttons] = {Role.STREAMING: "stop", Role.PART: "none", Role.LAST: "final"}
THINKING_HEADER = "-# Thinking…"
SPOILER = "||"
THINKING_CHARS = (MAX_CHARS - len(THINKING_HEADER) - 1 - 2 * len(SPOILER) - 1) // 2
"""Reasoning shown at most, in code points: escaping at most doubles it, so the view fits."""
ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
"""What Discord lets a backslash escape, all of it escaped in reasoning."""


def sink_limits(channel_id: int) -> SinkLimits:
    """The budgets every stream in one channel shares: edits, and posts."""
    return SinkLimits(
        max_chars=MAX_CHARS,
        rate_scope=f"discord:channel:{channel_id}",
        edits_per_minute=EDITS_PER_MINUTE,
        burst=EDIT_BURST,
        min_edit_interval=MIN_EDIT_INTERVAL,
        # Discord counts ``content`` in code points: its API is Python 3 and measures len()
        # (discord/discord-api-docs#1315); see bot.reply.units.
        unit=TextUnit.CODE_POINTS,
        post_scope=f"discord:channel:{channel_id}:post",
        posts_per_minute=EDITS_PER_MINUTE,
        post_burst=EDIT_BURST,
        whole_under_load=True,
    )


def checked_text(text: str) -> str:
    """The content to send: never empty, never over the limit (that would be a splitter bug)."""
    if len(text) > MAX_CHARS:
        raise SinkError(f"message of {len(text)} characters is over Discord's {MAX_CHARS}")
    return text or PLACEHOLDER


def thinking_view(tail: str) -> str:
    """Reasoning shown collapsed: a small ``-#`` subtext header, then the tail in a spoiler
    (``||…||``, hidden until clicked).

    The tail is flattened to one line (no heading, quote or list can start inside) and every
    ASCII punctuation character is backslash-escaped, in links too (``discord.utils.
    escape_markdown`` leaves a masked link's inside alone), so the model's ``|``, backticks,
    ``<@…>`` or a trailing backslash show as written and cannot close the spoiler early; a
    body ending in an escaped ``|`` gets a space, so no ``|||`` is read as an early close.
    Nothing pings anyway (``NO_MENTIONS`` on every request).
    """
    body = " ".join(grapheme_tail(tail, THINKING_CHARS).split())
    if not body:
        return THINKING_HEADER
    body = ASCII_PUNCTUATION.sub(r"\\\1", body)
    if body.endswith("|"):
        body += " "
    return f"{THINKING_HEADER}\n{SPOILER}{body}{SPOILER}"


def view_for(key: ConversationKey, buttons: Buttons) -> discord.ui.View | None:
    return None if buttons == "none" else answer_view(key, final=buttons == "final")


class ButtonPlan:
    """Each message's buttons, from the role the reply gives it (``bot.reply.base.Role``)."""

    def __init__(self) -> None:
        self.plain = False
        """Set for a notice that is not an answer (no Stop, no Regenerate)."""

    def buttons(self, *, final: bool, last: bool) -> Buttons:
        if self.plain:
            return "none"
        return BUTTONS[Role.of(final=final, last=last)]


class ChannelWriter:
    """Channel message requests, with the archived-thread retry."""

    def __init__(self, client: discord.Client, channel_id: int) -> None:
        self.client = client
        self.channel_id = channel_id
        self._unarchived = False

    async def send(
        self,
        text: str,
        view: discord.ui.View | None,
        reference: discord.MessageReference | None = None,
    ) -> str:
        channel = self.client.get_partial_messageable(self.channel_id)
        content = checked_text(text)

        def request() -> Awaitable[discord.Message]:
            if reference is None:
                return channel.send(content, view=view, allowed_mentions=NO_MENTIONS)  # type: ignore[arg-type]
            return channel.send(
                content,
                view=view,  # type: ignore[arg-type]
                allowed_mentions=NO_MENTIONS,
                reference=reference,
                mention_author=False,
            )

        message = await self._write(f"post in {self.channel_id}", request)
        return str(message.id)

    async def edit(self, message_id: str, text: str | None, view: discord.ui.View | None) -> None:
        partial = self.client.get_partial_messageable(self.channel_id).get_partial_message(
            int(message_id)
        )

        def request() -> Awaitable[discord.Message]:
            if text is None:
                return partial.edit(view=view)
            return partial.edit(content=checked_text(text), view=view, allowed_mentions=NO_MENTIONS)

        await self._write(f"edit {message_id} in {self.channel_id}", request)

    async def _write(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call(what, request())
        except SinkMessageGone as exc:
            if error_code(exc) != THREAD_ARCHIVED or self._unarchived:
                raise
            self._unarchived = True
            await self._unarchive(exc)
            return await call(what, request())

    async def _unarchive(self, gone: SinkMessageGone) -> None:
        logger.info("thread %s is archived; unarchiving it to keep answering", self.channel_id)
        try:
            await call("unarchive", self.client.http.edit_channel(self.channel_id, archived=False))
        except SinkError as exc:
            logger.warning("cannot unarchive thread %s (locked?): %s", self.channel_id, exc)
            raise gone from exc


class ChannelSink:
    """Posts with ``POST /channels/{id}/messages`` and edits with ``PATCH …/messages/{id}``."""

    def __init__(
        self,
        client: discord.Client,
        channel_id: int,
        key: ConversationKey,
        *,
        reply_to: int | None = None,
    ) -> None:
        self._writer = ChannelWriter(client, channel_id)
        self.channel_id = channel_id
        self._key = key
        self._reply_to = reply_to
        self._limits = sink_limits(channel_id)
        self._plan = ButtonPlan()
        self.buttons = self._plan

    @property
    def limits(self) -> SinkLimits:
        return self._limits

    def sanitize(self, text: str) -> str:
        """Unchanged: ``AllowedMentions.none()`` on every request is what stops pings."""
        return text

    def thinking(self, tail: str) -> str:
        """Reasoning in a spoiler under a small header (``thinking_view``)."""
        return thinking_view(tail)

    async def post(self, text: str, *, final: bool, last: bool = False) -> str:
        buttons = self._plan.buttons(final=final, last=last)
        return await self._writer.send(text, view_for(self._key, buttons), self._take_reference())

    async def edit(self, message_id: str, text: str, *, final: bool, last: bool = False) -> None:
        buttons = self._plan.buttons(final=final, last=last)
        await self._writer.edit(message_id, text, view_for(self._key, buttons))

    def _take_reference(self) -> discord.MessageReference | None:
        """Only the first message of an answer replies to the user's message."""
        if self._reply_to is None:
            return None
        message_id, self._reply_to = self._reply_to, None
        return discord.MessageReference(
            message_id=message_id, channel_id=self._writer.channel_id, fail_if_not_exists=False
        )
