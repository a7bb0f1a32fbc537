"""A ``StreamedReply`` over Slack's native AI streaming, handing over to chat.update.

The first delta starts a stream at once (``chat.startStream``), later text is buffered and sent
by one pump task with ``chat.appendStream`` at most every ``append_interval`` seconds and within
the workspace's Tier 2/Tier 4 buckets, so ``append()`` never waits for Slack. The pump waits on
the injected ``Clock`` (``bot.reply.clock``), so tests can run it on virtual time. Text is sent as
``markdown_text`` (standard Markdown); a Stop button rides along as a ``blocks`` chunk (dropped
if Slack refuses it).

Whenever native streaming can't or shouldn't go on, the message is *adopted* by the shared
post+edit reply (``fallback(continue_message=ts, shown_text=…)``) which keeps editing it with
``chat.update``: when native streaming is unavailable, rate-limited at start, on expiry
(``message_not_in_streaming_state``), on errors, before the ~5-minute server limit, when the
answer outgrows one message, and at the end (finish, user stop, failure). The final state is
therefore always one ``chat.update`` with exactly the full answer and the final buttons.

Streamed text can't be taken back, so every piece is cut with ``split_safe`` (a tail that might
still become a ping waits for the next piece) and sanitised with the same ``MentionPolicy`` as
the post+update path: no call ever carries a ping, whatever the delta boundaries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import CHUNK_REJECTED, NATIVE_UNAVAILABLE, STREAM_EXPIRED, call
from adapters.slack.blocks import final_actions, stop_actions
from adapters.slack.budget import StreamBudgets
from adapters.slack.sink import MAX_CHARS, Target
from adapters.slack.text import MentionPolicy, sanitize, split_safe
from bot.errors import ReplyClosedError, SinkError, SinkRateLimited
from bot.moderation import retract
from bot.reply.base import ShowsReasoning, StreamedReply
from bot.reply.clock import Clock, SystemClock, wait_event

logger = logging.getLogger(__name__)

Fallback = Callable[[str | None, str], StreamedReply]
APPEND_INTERVAL = 0.6
MAX_STREAM_AGE = 240.0


@dataclass(slots=True)
class NativeSupport:
    """What this process has learned about native streaming in its workspace."""

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


class NativeStreamReply:
    """One answer streamed natively into a thread; see the module docstring."""

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        *,
        budgets: StreamBudgets,
        support: NativeSupport,
        fallback: Fallback,
        max_chars: int = MAX_CHARS,
        append_interval: float = APPEND_INTERVAL,
        max_age: float = MAX_STREAM_AGE,
        clock: Clock | None = None,
        allow_mentions: bool = False,
    ) -> None:
        self._client = client
        self._target = target
        self._policy = MentionPolicy(allow_mentions, target.user)
        self._budgets = budgets
        self._support = support
        self._fallback = fallback
        self._max_chars = max_chars
        self._interval = append_interval
        self._max_age = max_age
        self._clock = (clock or SystemClock()).monotonic
        self._timers = clock or SystemClock()
        self._open = True
        self._ts: str | None = None
        self._live = False
        self._broken = False
        self._born = 0.0
        self._last_send = 0.0
        self._sent = ""
        self._pending = ""
        self._delegate: StreamedReply | None = None
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None

    # -- StreamedReply ------------------------------------------------------------------

    @property
    def message_ids(self) -> list[str]:
        if self._delegate is not None:
            return list(self._delegate.message_ids)
        return [self._ts] if self._ts else []

    async def start(self) -> None:
        self._check_open()

    async def append(self, text: str) -> None:
        self._check_open()
        if not text:
            return
        self._pending += text
        if self._pump_task is None:
            self._pump_task = asyncio.create_task(self._pump(), name="slack-native-stream")
        self._wake.set()

    async def finish(self) -> None:
        delegate = await self._close(final=True)
        await delegate.finish()

    async def stop(self) -> None:
        delegate = await self._close(final=False)
        await delegate.stop()

    async def fail(self, notice: str) -> None:
        delegate = await self._close(final=False)
        await delegate.fail(notice)

    async def retract(self, notice: str) -> None:
        """Moderation withheld the answer: the message shows only ``notice``."""
        delegate = await self._close(final=False)
        await retract(delegate, notice)

    async def reasoning(self, text: str) -> None:
        """Reasoning before any answer text (``show_reasoning`` collapsed): a stream cannot
        take text back, so the post+edit reply takes over and shows it in its placeholder."""
        self._check_open()
        if self._ts is not None or self._pending:
            return
        delegate = self._delegate or await self._hand_over(None)
        if isinstance(delegate, ShowsReasoning):
            await delegate.reasoning(text)

    def _check_open(self) -> None:
        if not self._open:
            raise ReplyClosedError("this Slack reply is already closed")

    # -- the pump -----------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                await self._step()
            except Exception:
                logger.exception("Slack reply update failed")
                if self._delegate is not None:
                    return
                self._live, self._broken = False, True
                self._wake.set()

    async def _step(self) -> None:
        if self._delegate is not None:
            await self._forward()
        elif self._broken:
            await self._hand_over(self._ts)
        elif self._ts is None:
            await self._start_stream()
        elif await self._append_pending():
            self._wake.set()

    async def _forward(self) -> None:
        text, self._pending = self._pending, ""
        if text and self._delegate is not None:
            await self._delegate.append(text)

    async def _start_stream(self) -> None:
        budget = self._budgets.start_stop(self._target.workspace)
        if not self._support.usable(self._target.channel) or not budget.try_take():
            await self._hand_over(None)
            return
        text, keep = split_safe(self._pending)
        if len(text) > self._max_chars:
            await self._hand_over(None)
            return
        self._pending = keep
        try:
            data = await self._start_call(text)
        except SinkError as exc:
            self._pending = text + self._pending
            await self._start_failed(exc)
            return
        self._ts = str(data.get("ts") or "") or None
        if self._ts is None:
            self._pending = text + self._pending
            await self._hand_over(None)
            return
        self._sent, self._live = text, True
        self._born = self._last_send = self._clock()

    async def _start_call(self, text: str) -> dict[str, Any]:
        """``chat.startStream`` with the text as ``markdown_text`` and the Stop button as a
        ``blocks`` chunk; without the chunk if Slack refuses it (remembered)."""
        markdown = sanitize(text, self._policy) or None
        if not self._support.stop_chunk:
            return await call("chat.startStream", self._start_request(markdown, None))
        stop = [{"type": "blocks", "blocks": [stop_actions(self._target.value)]}]
        try:
            return await call("chat.startStream", self._start_request(markdown, stop))
        except SinkError as exc:
            if exc.code not in CHUNK_REJECTED:
                raise
        self._support.stop_chunk = False
        logger.info("Slack refused the Stop button chunk; streaming without it")
        return await call("chat.startStream", self._start_request(markdown, None))

    def _start_request(self, markdown: str | None, chunks: list[dict[str, Any]] | None) -> Any:
        target = self._target
        return self._client.chat_startStream(
            channel=target.channel,
            thread_ts=target.thread,
            markdown_text=markdown,
            recipient_user_id=target.user or None,
            recipient_team_id=(target.user_team or target.workspace) if target.user else None,
            chunks=chunks,
        )

    async def _start_failed(self, exc: SinkError) -> None:
        code = exc.code
        if isinstance(exc, SinkRateLimited):
            self._budgets.start_stop(self._target.workspace).pause(exc.retry_after)
        elif code in NATIVE_UNAVAILABLE:
            self._support.refuse(self._target.channel, code)
        else:
            logger.warning("chat.startStream failed (%s); using chat.update", exc)
        await self._hand_over(None)

    async def _append_pending(self) -> bool:
        """Send buffered text if allowed now; True when the pump should come back soon."""
        if self._clock() - self._born > self._max_age:
            await self._hand_over(self._ts, stop_stream=True)
            return False
        if len(self._sent) + len(self._pending) > self._max_chars:
            await self._hand_over(self._ts, stop_stream=True)
            return False
        if await self._closing_within(self._append_delay()):
            return False
        text, keep = split_safe(self._pending)
        if not text:
            return False
        if not self._budgets.append(self._target.workspace).try_take():
            return True
        self._pending = keep
        await self._send_append(text)
        return bool(self._pending)

    def _append_delay(self) -> float:
        spacing = self._last_send + self._interval - self._clock()
        return max(spacing, self._budgets.append(self._target.workspace).wait_time(), 0.0)

    async def _send_append(self, text: str) -> None:
        request = self._client.chat_appendStream(
            channel=self._target.channel,
            ts=self._ts or "",
            markdown_text=sanitize(text, self._policy),
        )
        self._last_send = self._clock()
        try:
            await call("chat.appendStream", request)
        except SinkRateLimited as exc:
            self._budgets.append(self._target.workspace).pause(exc.retry_after)
            self._pending = text + self._pending
            return
        except SinkError as exc:
            self._pending = text + self._pending
            expired = exc.code == STREAM_EXPIRED
            logger.info("native stream ended (%s); continuing with chat.update", exc)
            await self._hand_over(self._ts, stop_stream=not expired)
            return
        self._sent += text

    async def _closing_within(self, delay: float) -> bool:
        if delay <= 0:
            return self._closing.is_set()
        return await wait_event(self._timers, self._closing, delay)

    # -- hand-over and closing ----------------------------------------------------------

    async def _hand_over(
        self, continue_message: str | None, *, stop_stream: bool = False
    ) -> StreamedReply:
        if stop_stream:
            await self._stop_stream(final=False)
        self._live = False
        shown = self._sent if continue_message else ""
        delegate = self._fallback(continue_message, shown)
        self._delegate = delegate
        await delegate.start()
        self._wake.set()
        return delegate

    async def _stop_stream(self, *, final: bool) -> bool:
        """End the live stream (with any remaining text when ``final``); False if it failed."""
        if not self._live or not self._budgets.start_stop(self._target.workspace).try_take():
            return False
        self._live = False
        fits = len(self._sent) + len(self._pending) <= self._max_chars
        rest = self._pending if final and fits else ""
        request = self._client.chat_stopStream(
            channel=self._target.channel,
            ts=self._ts or "",
            markdown_text=sanitize(rest, self._policy) or None,
            blocks=[final_actions(self._target.value)] if final else None,
        )
        try:
            await call("chat.stopStream", request)
        except SinkError as exc:
            logger.info("chat.stopStream failed (%s); chat.update finishes the message", exc)
            return False
        if rest:
            self._sent, self._pending = self._sent + rest, ""
        return True

    async def _close(self, *, final: bool) -> StreamedReply:
        self._check_open()
        self._open = False
        self._closing.set()
        self._wake.set()
        if self._pump_task is not None:
            await self._pump_task
        delegate = self._delegate
        if delegate is None:
            if self._live:
                await self._stop_stream(final=final)
            delegate = await self._hand_over(self._ts)
        await self._forward()
        return delegate
