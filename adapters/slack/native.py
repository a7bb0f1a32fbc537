"""``SlackStreamSink``: the ``SlackSink`` that can also stream natively (``StreamingSink``).

Slack's native AI streaming is three calls: ``chat.startStream`` (Tier 2), ``chat.appendStream``
(Tier 4) and ``chat.stopStream`` (Tier 2), all per workspace. The sink only makes the calls;
``ProgressiveReply`` decides when, through the process's scheduler (``bot.reply.stream``), and
edits the message with ``chat.update`` once the stream is over, so the final state is always one
``chat.update`` with exactly the full answer and the final buttons (this also ends a stream
Slack has expired, its documented recovery).

Text is sent as ``markdown_text`` (standard Markdown), sanitised with the same
``MentionPolicy`` as the post+update path; ``stream_cut`` holds back a tail that might still
become a ping (``split_safe``), so no call ever carries one, whatever the delta boundaries. The
Stop button rides along as a ``blocks`` chunk, dropped (and remembered) if Slack refuses it.
What this process learns about native streaming (``NativeSupport``: unavailable, refused in a
channel type) is shared by every sink of the process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import CHUNK_REJECTED, NATIVE_UNAVAILABLE, call
from adapters.slack.blocks import final_actions, stop_actions
from adapters.slack.sink import BlockSupport, SlackSink, Target
from adapters.slack.text import sanitize, split_safe
from bot.errors import SinkError
from bot.reply.base import StreamLimits

logger = logging.getLogger(__name__)

STARTS_PER_MINUTE = 20.0
"""``chat.startStream`` and ``chat.stopStream`` share this (both Tier 2, 20+/min)."""
START_BURST = 6
APPENDS_PER_MINUTE = 100.0
"""``chat.appendStream``: Tier 4 (100+/min)."""
APPEND_BURST = 10
APPEND_INTERVAL = 0.6
MAX_STREAM_AGE = 240.0
"""Slack expires a stream after about five minutes; end it well before."""


def stream_limits(workspace: str) -> StreamLimits:
    """The native-stream budgets of one workspace (the scheduler keeps 10 % in reserve)."""
    return StreamLimits(
        start_scope=f"slack:{workspace}:chat.startStream",
        starts_per_minute=STARTS_PER_MINUTE,
        start_burst=START_BURST,
        append_scope=f"slack:{workspace}:chat.appendStream",
        appends_per_minute=APPENDS_PER_MINUTE,
        append_burst=APPEND_BURST,
        append_interval=APPEND_INTERVAL,
        max_age=MAX_STREAM_AGE,
    )


@dataclass(slots=True)
class NativeSupport:
    """What this process has learned about native streaming."""

    unavailable: bool = False
    unsupported_channels: set[str] = field(default_factory=set)
    stop_chunk: bool = True

    def usable(self, channel: str) -> bool:
        return not self.unavailable and channel not in self.unsupported_channels

    def refuse(self, channel: str, code: str) -> None:
        logger.info("native streaming unavailable (%s); using chat.update instead", code)
        if code == "channel_type_not_supported":
            self.unsupported_channels.add(channel)
        else:
            self.unavailable = True


class SlackStreamSink(SlackSink):
    """A ``SlackSink`` for a thread that also streams natively (module docstring)."""

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        support: BlockSupport | None = None,
        *,
        native: NativeSupport,
        allow_mentions: bool = False,
        limits: StreamLimits | None = None,
    ) -> None:
        super().__init__(client, target, support, allow_mentions=allow_mentions)
        self._native = native
        self._stream_limits = limits or stream_limits(target.workspace)

    @property
    def stream_limits(self) -> StreamLimits:
        return self._stream_limits

    def streams(self) -> bool:
        return self._native.usable(self.target.channel)

    def stream_cut(self, text: str) -> int:
        return len(split_safe(text)[0])

    async def open_stream(self, text: str) -> str:
        try:
            data = await self._start(sanitize(text, self._policy) or None)
        except SinkError as exc:
            if exc.code in NATIVE_UNAVAILABLE:
                self._native.refuse(self.target.channel, exc.code)
            raise
        ts = data.get("ts")
        if not isinstance(ts, str) or not ts:
            raise SinkError("chat.startStream: no ts in the response")
        return ts

    async def append_stream(self, message_id: str, text: str) -> None:
        request = self._client.chat_appendStream(
            channel=self.target.channel,
            ts=message_id,
            markdown_text=sanitize(text, self._policy),
        )
        await call("chat.appendStream", request)

    async def close_stream(self, message_id: str, text: str, *, last: bool) -> None:
        request = self._client.chat_stopStream(
            channel=self.target.channel,
            ts=message_id,
            markdown_text=sanitize(text, self._policy) or None,
            blocks=[final_actions(self.target.value)] if last else None,
        )
        await call("chat.stopStream", request)

    async def _start(self, markdown: str | None) -> dict[str, Any]:
        """``chat.startStream`` with the Stop button as a ``blocks`` chunk; without the chunk
        if Slack refuses it (remembered for the process)."""
        if not self._native.stop_chunk:
            return await call("chat.startStream", self._start_request(markdown, None))
        stop = [{"type": "blocks", "blocks": [stop_actions(self.target.value)]}]
        try:
            return await call("chat.startStream", self._start_request(markdown, stop))
        except SinkError as exc:
            if exc.code not in CHUNK_REJECTED:
                raise
        self._native.stop_chunk = False
        logger.info("Slack refused the Stop button chunk; streaming without it")
        return await call("chat.startStream", self._start_request(markdown, None))

    def _start_request(self, markdown: str | None, chunks: list[dict[str, Any]] | None) -> Any:
        target = self.target
        return self._client.chat_startStream(
            channel=target.channel,
            thread_ts=target.thread,
            markdown_text=markdown,
            recipient_user_id=target.user or None,
            recipient_team_id=(target.user_team or target.workspace) if target.user else None,
            chunks=chunks,
        )
