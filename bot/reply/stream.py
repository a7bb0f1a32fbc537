"""``NativeStream``: an answer's first message streamed natively, as one phase of a reply.

``ProgressiveReply`` runs this phase first when its sink is a ``StreamingSink`` that
``streams()``; every call goes through the process's ``RateScheduler`` on the reply's clock:

* **open** when the first safe text is there, if a start token is free *now* and the edit
  scope can afford the final edit this message will need (``ScopeBudget.busy``); otherwise,
  or if the platform refuses, the phase ends before anything was shown and the reply posts
  as usual;
* **append** what is safe to send (``StreamingSink.stream_cut``, and never a last emoji that
  the next characters may extend) at most every
  ``append_interval`` seconds, each append waiting its turn in the append scope; a 429 pauses
  the scope and the text is sent later;
* **end** the phase when the answer closes (``close_stream`` with the rest of the text), when
  the stream is ``max_age`` old or the next text would outgrow one message (``close_stream``
  without text), or when the platform ended it (``SinkMessageGone``: no close) or failed.

Once the phase ends, the reply edits the message like any other (the last edit carries the
exact answer and the final buttons), so every way out of native streaming ends the same way.
"""

from __future__ import annotations

import logging
import math
from enum import Enum

from bot.errors import SinkError, SinkMessageGone, SinkRateLimited
from bot.reply.base import StreamingSink
from bot.reply.clock import Clock
from bot.reply.graphemes import last_cluster_start, may_grow
from bot.reply.scheduler import RateScheduler

logger = logging.getLogger(__name__)

APPEND_WAIT_LIMIT = 30.0
"""Seconds an append may wait for its turn before the phase ends (edits take over)."""


class Appended(Enum):
    SENT = "sent"
    NOTHING = "nothing"
    """No text is safe to send yet."""
    ENDED = "ended"
    """The stream is over: the reply edits the message from now on."""


class NativeStream:
    """The state of one streamed message: its id, how much of the answer it shows, its age."""

    def __init__(
        self,
        sink: StreamingSink,
        scheduler: RateScheduler,
        clock: Clock,
        *,
        label: str,
        max_chars: int,
    ) -> None:
        limits = sink.stream_limits
        self._sink, self._clock, self._limits = sink, clock, limits
        self._max_chars = max_chars
        self._starts = scheduler.scope(limits.start_limits(max_chars))
        self._appends = scheduler.scope(limits.append_limits(max_chars))
        self._start_slot = self._starts.slot(label)
        self._append_slot = self._appends.slot(label)
        self.id: str | None = None
        self.sent = 0
        """How many characters of the raw answer text the message shows."""
        self.ended = False
        self._born = self._last = -math.inf

    @property
    def live(self) -> bool:
        return self.id is not None and not self.ended

    def promote(self) -> None:
        """The answer is closing: its requests go first."""
        self._appends.promote(self._append_slot)
        self._starts.promote(self._start_slot)

    async def open(self, text: str, *, affordable: bool) -> bool:
        """Start the stream with the safe part of ``text``. False: not started, either because
        nothing is safe to send yet, or because the phase ended unopened (``ended``)."""
        cut = self._safe_cut(text)
        if not cut:
            return False
        if cut > self._max_chars or not affordable or not self._sink.streams():
            return self._ended_unopened()
        if not self._starts.try_take(self._start_slot):
            return self._ended_unopened()
        try:
            message_id = await self._sink.open_stream(text[:cut])
        except SinkRateLimited as exc:
            self._starts.rate_limited(exc.retry_after)
            return self._ended_unopened()
        except SinkError as exc:
            logger.info("native stream did not start (%s); posting instead", exc)
            return self._ended_unopened()
        self._starts.succeeded()
        self.id, self.sent = message_id, cut
        self._born = self._last = self._clock.monotonic()
        return True

    def due(self) -> float:
        """Clock time the next append may go (its own pacing, not the scope's)."""
        return self._last + self._limits.append_interval

    def outgrown(self, size: int) -> bool:
        """Whether the stream must end: too old, or ``size`` characters won't fit."""
        old = self._clock.monotonic() - self._born >= self._limits.max_age
        return old or size > self._max_chars

    async def append(self, text: str) -> Appended:
        """Send what is safe of ``text[sent:]`` when the append scope grants a turn."""
        cut = self._safe_cut(text[self.sent :])
        if not cut:
            return Appended.NOTHING
        deadline = self._clock.monotonic() + APPEND_WAIT_LIMIT
        if not await self._appends.acquire(self._append_slot, deadline=deadline):
            logger.info("no append turn within %.0f s; editing instead", APPEND_WAIT_LIMIT)
            await self.close("", last=False)
            return Appended.ENDED
        assert self.id is not None
        piece = text[self.sent : self.sent + cut]
        self._last = self._clock.monotonic()
        try:
            await self._sink.append_stream(self.id, piece)
        except SinkRateLimited as exc:
            self._appends.rate_limited(exc.retry_after)
            return Appended.SENT  # nothing shown; the same text goes again later
        except SinkMessageGone as exc:
            logger.info("native stream ended by the platform (%s); editing instead", exc)
            return self._ended()
        except SinkError as exc:
            logger.info("native stream append failed (%s); editing instead", exc)
            await self.close("", last=False)
            return Appended.ENDED
        self._appends.succeeded()
        self.sent += cut
        return Appended.SENT

    async def close(self, rest: str, *, last: bool) -> None:
        """End the stream with ``rest`` appended when it fits; best effort, since the edit
        that follows ends it anyway (no start-scope token: no call)."""
        live, self.ended = self.live, True
        if not live:
            return
        if self.sent + len(rest) > self._max_chars:
            rest = ""
        if not self._starts.try_take(self._start_slot):
            return
        assert self.id is not None
        try:
            await self._sink.close_stream(self.id, rest, last=last)
        except SinkRateLimited as exc:
            self._starts.rate_limited(exc.retry_after)
            return
        except SinkError as exc:
            logger.info("closing the native stream failed (%s); an edit ends it", exc)
            return
        self.sent += len(rest)

    def _safe_cut(self, text: str) -> int:
        """How much of ``text`` may be appended now: what the sink deems safe, less a last
        emoji that a modifier, joiner or flag half may still extend (appended text is final)."""
        cut = self._sink.stream_cut(text)
        if cut and may_grow(text[:cut]):
            cut = last_cluster_start(text, cut)
        return cut

    def _ended(self) -> Appended:
        self.ended = True
        return Appended.ENDED

    def _ended_unopened(self) -> bool:
        self.ended = True
        return False
