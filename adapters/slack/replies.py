"""Choosing how an answer is shown: native streaming in threads, post+update elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import best_effort
from adapters.slack.budget import StreamBudgets
from adapters.slack.native import NativeStreamReply, NativeSupport
from adapters.slack.sink import BlockSupport, SlackSink, Target
from adapters.slack.targets import from_stored
from bot.engine import Resume
from bot.reply.base import MessageSink, StreamedReply

THINKING = "is thinking…"


class ReplyMaker(Protocol):
    """The part of the core's reply factory the adapter uses."""

    def create(
        self,
        sink: MessageSink,
        *,
        continue_message: str | None = None,
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

    async def _settle(self) -> None:
        if self._task is not None:
            await self._task


class ReplyBuilder:
    """Builds the ``StreamedReply`` for one answer's target."""

    def __init__(
        self,
        client: AsyncWebClient,
        maker: ReplyMaker,
        *,
        native: bool,
        budgets: StreamBudgets,
        allow_mentions: bool = False,
    ) -> None:
        self._client = client
        self._maker = maker
        self._native = native
        self._budgets = budgets
        self._allow_mentions = allow_mentions
        self.support = NativeSupport()
        self.blocks = BlockSupport()

    def build(self, target: Target) -> StreamedReply:
        sink = SlackSink(self._client, target, self.blocks, allow_mentions=self._allow_mentions)

        def fallback(continue_message: str | None, shown_text: str) -> StreamedReply:
            if continue_message is None:
                return self._maker.create(sink)
            return self._maker.create(
                sink, continue_message=continue_message, shown_text=shown_text
            )

        if not target.thread:
            return self._maker.create(sink)
        reply: StreamedReply
        if self._native and self.support.usable(target.channel):
            reply = NativeStreamReply(
                self._client,
                target,
                budgets=self._budgets,
                support=self.support,
                fallback=fallback,
                allow_mentions=self._allow_mentions,
            )
        else:
            reply = fallback(None, "")
        return StatusReply(reply, lambda: self._status(target))

    def rebuild(self, stored: Mapping[str, Any], resume: Resume | None) -> StreamedReply:
        """The reply of an owed answer taken over from another process (``ReplyRebuilder``).

        A queued one is answered like a new one; an interrupted one adopts the messages it
        shows and ends them with ``chat.update`` (which also ends a native stream).
        """
        target = from_stored(stored)
        if resume is None:
            return self.build(target)
        sink = SlackSink(self._client, target, self.blocks, allow_mentions=self._allow_mentions)
        return self._maker.create(sink, shown_text=resume.text, adopt=resume.message_ids)

    def _status(self, target: Target) -> Coroutine[Any, Any, bool]:
        request = self._client.assistant_threads_setStatus(
            channel_id=target.channel, thread_ts=target.thread, status=THINKING
        )
        return best_effort("assistant.threads.setStatus", request)
