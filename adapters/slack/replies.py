"""Choosing how an answer is shown: native streaming in threads, post+update elsewhere.

Every answer is one ``ProgressiveReply``. In a thread (with ``SLACK_NATIVE_STREAMING``) its sink
is a ``SlackStreamSink``, so the reply may stream the first message natively; it does so only
while the workspace can afford it (a ``chat.startStream`` token free now and the ``chat.update``
budget not busy, ``bot.reply.stream``), since a streamed answer costs a start and a stop (Tier 2)
plus the final ``chat.update``. Otherwise it posts and edits, and under more load posts answers
whole.

Every reply posts with the client of its target's workspace (``Target.workspace``), so an
answer, including one rebuilt from its stored target after a restart, is written with the
token of the workspace it was asked in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import best_effort
from adapters.slack.native import NativeSupport, SlackStreamSink
from adapters.slack.sink import BlockSupport, SlackSink, Target
from adapters.slack.targets import from_stored
from bot.engine import Resume
from bot.moderation import retract
from bot.reply.base import MessageSink, ShowsReasoning, StreamedReply

THINKING = "is thinking…"


class ReplyMaker(Protocol):
    """The part of the core's reply factory the adapter uses."""

    def create(
        self,
        sink: MessageSink,
        *,
        shown_text: str = "",
        adopt: Sequence[str] = (),
    ) -> StreamedReply: ...


class StatusReply:
    """Shows Slack's "is thinking…" status in the thread while the answer is prepared.

    The status call runs in the background (the first delta is never delayed by it) and is
    settled before the answer's last state, so a late status can't outlive the answer.
    """

    def __init__(
        self, inner: StreamedReply, set_status: Callable[[], Coroutine[Any, Any, bool]]
    ) -> None:
        self._inner = inner
        self._set_status = set_status
        self._task: asyncio.Task[bool] | None = None

    @property
    def message_ids(self) -> list[str]:
        return self._inner.message_ids

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._set_status())
        await self._inner.start()

    async def append(self, text: str) -> None:
        await self._inner.append(text)

    async def finish(self) -> None:
        await self._settle()
        await self._inner.finish()

    async def stop(self) -> None:
        await self._settle()
        await self._inner.stop()

    async def fail(self, notice: str) -> None:
        await self._settle()
        await self._inner.fail(notice)

    async def retract(self, notice: str) -> None:
        await self._settle()
        await retract(self._inner, notice)

    async def reasoning(self, text: str) -> None:
        """Reasoning shown while it streams (``show_reasoning``), where the reply can."""
        if isinstance(self._inner, ShowsReasoning):
            await self._inner.reasoning(text)

    async def _settle(self) -> None:
        if self._task is not None:
            await self._task


Clients = Callable[[str], AsyncWebClient]
"""The Web API client of a workspace (team id)."""


class ReplyBuilder:
    """Builds the ``StreamedReply`` for one answer's target."""

    def __init__(
        self,
        clients: Clients,
        maker: ReplyMaker,
        *,
        native: bool,
        allow_mentions: bool = False,
    ) -> None:
        self._clients = clients
        self._maker = maker
        self._native = native
        self._allow_mentions = allow_mentions
        self.support = NativeSupport()
        self.blocks = BlockSupport()

    def build(self, target: Target) -> StreamedReply:
        client = self._clients(target.workspace)
        if not target.thread:
            return self._maker.create(self._sink(client, target))
        native = self._native and self.support.usable(target.channel)
        sink = self._stream_sink(client, target) if native else self._sink(client, target)
        reply = self._maker.create(sink)
        return StatusReply(reply, lambda: self._status(client, target))

    def _sink(self, client: AsyncWebClient, target: Target) -> SlackSink:
        return SlackSink(client, target, self.blocks, allow_mentions=self._allow_mentions)

    def _stream_sink(self, client: AsyncWebClient, target: Target) -> SlackSink:
        return SlackStreamSink(
            client, target, self.blocks, native=self.support, allow_mentions=self._allow_mentions
        )

    def rebuild(self, stored: Mapping[str, Any], resume: Resume | None) -> StreamedReply:
        """The reply of an owed answer taken over from another process (``ReplyRebuilder``).

        A queued one is answered like a new one; an interrupted one adopts the messages it
        shows and ends them with ``chat.update`` (which also ends a native stream).
        """
        target = from_stored(stored)
        if resume is None:
            return self.build(target)
        sink = self._sink(self._clients(target.workspace), target)
        return self._maker.create(sink, shown_text=resume.text, adopt=resume.message_ids)

    def _status(self, client: AsyncWebClient, target: Target) -> Coroutine[Any, Any, bool]:
        request = client.assistant_threads_setStatus(
            channel_id=target.channel, thread_ts=target.thread, status=THINKING
        )
        return best_effort("assistant.threads.setStatus", request)
