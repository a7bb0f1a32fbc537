"""``ProgressiveReply``: a streamed answer shown through any platform's ``MessageSink``.

How it behaves:

* ``start()`` posts the placeholder at once (not throttled). The first text after it is edited
  in immediately when the scope has a token (it ranks before every stream already served).
* ``append()`` only records text and wakes a background flusher: it never waits on the platform.
  The flusher owns every post and edit, so at most one request per message is in flight, and
  it always sends the latest text (intermediate states coalesce).
* Later edits of a message wait ``min_edit_interval`` and their turn in the scope's budget.
* Text runs over into continuation messages at the platform limit (``bot.reply.split``); a
  finalised message is never edited again.
* ``finish()``/``fail()``/``stop()`` return once the platform shows the final state. Final edits
  go first in the scope and are retried after 429s (``retry_after`` honoured) and other errors,
  until delivered or a bounded, logged give-up (``bot.reply.retry``).
* After ``finish()`` the messages joined with ``split.join_parts`` equal
  ``sink.sanitize(answer)``; an empty (or blank) answer shows ``EMPTY_ANSWER`` instead.
  ``fail(notice)`` keeps the text and appends ``_⚠ notice_``; ``stop()`` keeps the text and
  appends ``STOPPED_MARK`` (an open code block is closed first in both cases).
* A message that can no longer be edited (``SinkMessageGone``) is replaced: its text is posted
  as a new message and the old id leaves ``message_ids`` (at most ``MAX_REPLACEMENTS`` times).
* Every call is planned against the sink's budgets (``SinkLimits``): edits against the edit
  scope, posts against the post scope when the sink declares one. Each message is sent with
  its role (``final``/``last``, see ``base.Role``), so the sink places the buttons without
  reading the reply's state. With a post scope, load is met in steps: interim edits first
  leave tokens for the finals other answers owe (``scheduler``); a continuation message is
  posted live only ``min_edit_interval`` after the previous one was finalised (a fast answer
  fills it sooner and it is posted once, whole); and with ``whole_under_load``, while the
  edit scope is ``busy`` an answer posts no placeholder and shows each message whole and final
  (one post, no edit) when its text is complete (a continuation is held whole unless a token
  for its final edit is already in the bucket).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.errors import ReplyClosedError, SinkError, SinkMessageGone, SinkRateLimited
from bot.reply.base import MessageSink, StreamingSink, ThinkingView, grapheme_tail
from bot.reply.clock import Clock
from bot.reply.layout import Layout
from bot.reply.retry import FINAL_QUEUE_LIMIT, RetryPolicy
from bot.reply.scheduler import PLAN_HORIZON, RateScheduler, ScopeBudget
from bot.reply.stream import Appended, NativeStream

logger = logging.getLogger(__name__)

INDICATOR = " ▌"
PLACEHOLDER = "…"
REASONING_TAIL = 300
_MARKUP = str.maketrans({c: " " for c in "_*|`<>~\n"})


def reasoning_view(thinking: str) -> str:
    """The placeholder while reasoning streams, for a sink that is no ``ThinkingView``: its
    tail in italics, markup characters blanked so the model's text cannot break out of the
    italics or ping."""
    tail = " ".join(thinking.translate(_MARKUP).split())
    return f"_Thinking: …{tail}_" if tail else PLACEHOLDER


EMPTY_ANSWER = "_(no answer)_"
STOPPED_MARK = "_(stopped)_"
FAILED_MARK = "_⚠ {notice}_"
COLLAPSE_PIECES = 64
"""Appended pieces are joined into one string once this many pile up between flushes."""
CUT_SHORT = "_(cut short)_"
"""Shown in an adopted message that the checkpointed text no longer reaches."""
UNKNOWN = "\x00"
"""What an adopted message is taken to show: matches no text, so it is always edited."""
MAX_REPLACEMENTS = 3
"""How many vanished messages a reply re-posts before it stops trying."""


class ReplyStatus(StrEnum):
    OPEN = "open"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(slots=True)
class _Message:
    id: str | None
    shown: str
    final: bool = False
    sent_at: float | None = None
    final_at: float | None = None


@dataclass(frozen=True, slots=True)
class _Step:
    index: int
    text: str
    final: bool
    post: bool
    last: bool = False


class ProgressiveReply:
    """A ``StreamedReply`` that posts once and edits progressively within a rate budget."""

    def __init__(
        self,
        sink: MessageSink,
        scheduler: RateScheduler,
        clock: Clock,
        *,
        indicator: str = INDICATOR,
        placeholder: str = PLACEHOLDER,
        shown_text: str = "",
        adopt: Sequence[str] = (),
    ) -> None:
        if not placeholder.strip():
            raise ValueError("the placeholder must not be blank")
        limits = sink.limits
        self._sink, self._clock = sink, clock
        self._interval = max(0.0, limits.min_edit_interval)
        self._limits = limits
        self._scope = scheduler.scope(limits)
        self._slot = self._scope.slot(f"{limits.rate_scope}/{id(self):x}")
        self._posts = scheduler.scope(limits.post_limits()) if limits.post_scope else None
        self._post_slot = self._posts.slot(self._slot.label) if self._posts else self._slot
        self._layout = Layout(limits.max_chars, indicator, limits.unit)
        self._placeholder = placeholder[: limits.max_chars]
        self._pieces = [shown_text] if shown_text else []
        self._size = len(shown_text)
        self._suffix = ""
        self._status = ReplyStatus.OPEN
        # Adopted messages (an interrupted answer taken over after a restart) show something
        # unknown: each is edited to its part of ``shown_text`` when the reply closes.
        self._messages = [_Message(message_id, UNKNOWN) for message_id in adopt]
        self._started = bool(self._messages)
        self._native = self._native_stream(sink, scheduler) if not self._messages else None
        self._display_cache: tuple[int, str] = (-1, "")
        self._dirty = asyncio.Event()
        self._io = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._retry = RetryPolicy(clock)
        self._replaced = 0
        self._gave_up = False
        self._thinking = ""

    def _native_stream(self, sink: MessageSink, scheduler: RateScheduler) -> NativeStream | None:
        """The native-stream phase of the first message, when the sink offers one."""
        if not isinstance(sink, StreamingSink):
            return None
        return NativeStream(
            sink, scheduler, self._clock, label=self._slot.label, max_chars=self._limits.max_chars
        )

    @property
    def message_ids(self) -> list[str]:
        return [message.id for message in self._messages if message.id is not None]

    @property
    def status(self) -> ReplyStatus:
        return self._status

    @property
    def text(self) -> str:
        """The answer text appended so far (before sanitising)."""
        return "".join(self._pieces)

    @property
    def delivered(self) -> bool:
        """Whether the platform shows the reply's current target state."""
        return self._next_step() is None

    async def start(self) -> None:
        """Post the placeholder now; if the platform refuses, the flusher retries it later."""
        if self._started or self._status is not ReplyStatus.OPEN:
            return
        self._started = True
        if self._streaming():
            return  # the stream opens with the first text (``bot.reply.stream``)
        async with self._io:
            step = self._next_step()
            if step is None or not step.post:
                return
            posts = self._posts
            if self._hold_until(step) is not None or (
                posts is not None and not posts.try_take(self._post_slot)
            ):
                self._wake()  # held (whole under load) or no post token yet: the flusher posts
                return
            self._scope.owe(self._slot, True)  # its final edit is planned from now on
            try:
                await self._send(step)
            except SinkRateLimited as exc:
                self._scope_for(step).rate_limited(exc.retry_after)
                self._wake()
            except SinkError as exc:
                logger.warning("%s: placeholder post failed (%s); retrying", self._slot.label, exc)
                self._failed(exc, self._backoff(), backoff=True)
                self._wake()
            finally:
                self._owe()

    async def append(self, text: str) -> None:
        if self._status is not ReplyStatus.OPEN:
            raise ReplyClosedError(f"append() on a reply that is {self._status}")
        if text:
            self._pieces.append(text)
            self._size += len(text)
            if len(self._pieces) >= COLLAPSE_PIECES:  # many tiny strings cost more than one
                self._pieces = ["".join(self._pieces)]
            self._wake()

    async def reasoning(self, text: str) -> None:
        """Show the tail of the model's reasoning in the placeholder (``show_reasoning``
        collapsed) until the first answer text replaces it; it is never part of the answer.
        A ``ThinkingView`` sink renders it its platform's way, others get ``reasoning_view``."""
        if self._status is not ReplyStatus.OPEN or self._size or not text:
            return
        self._thinking = grapheme_tail(self._thinking + text, REASONING_TAIL)
        sink = self._sink
        if isinstance(sink, ThinkingView):  # the platform's own way (spoiler, context block)
            view = sink.thinking(self._thinking)
        else:
            view = reasoning_view(self._thinking)
        self._placeholder = view[: self._limits.max_chars]
        self._wake()

    async def finish(self) -> None:
        await self._close(ReplyStatus.FINISHED, None)

    async def fail(self, notice: str) -> None:
        await self._close(ReplyStatus.FAILED, FAILED_MARK.format(notice=_one_line(notice)))

    async def stop(self) -> None:
        await self._close(ReplyStatus.STOPPED, STOPPED_MARK)

    async def retract(self, notice: str) -> None:
        """Close as failed showing only the notice: the text shown so far is taken back (the
        first message is edited to the notice, any continuation to ``CUT_SHORT``)."""
        if self._status is ReplyStatus.OPEN:
            self._pieces, self._size, self._display_cache = [], 0, (-1, "")
            self._layout = Layout(self._layout.max_chars, self._layout.indicator, self._layout.unit)
        await self.fail(notice)

    async def _close(self, status: ReplyStatus, mark: str | None) -> None:
        if self._status is not ReplyStatus.OPEN:
            raise ReplyClosedError(f"{status} requested on a reply that is {self._status}")
        if mark is not None:
            self._suffix = self._layout.closing_suffix(self._display(), self._sink.sanitize(mark))
        self._status = status
        self._retry.close()
        self._scope.promote(self._slot)
        if self._posts is not None:
            self._posts.promote(self._post_slot)
        if self._native is not None:
            self._native.promote()
        self._wake()
        if self._flusher is not None:
            await asyncio.shield(self._flusher)

    def _wake(self) -> None:
        self._dirty.set()
        if self._flusher is None or self._flusher.done():
            loop = asyncio.get_running_loop()
            self._flusher = loop.create_task(self._flush(), name=f"reply-{self._slot.label}")

    def _display(self) -> str:
        """The sanitised answer plus the closing mark (a blank answer keeps only the mark)."""
        size = self._size + len(self._suffix)
        if self._display_cache[0] != size:
            if len(self._pieces) > 1:
                self._pieces = ["".join(self._pieces)]
            body = self._sink.sanitize(self._pieces[0]) if self._pieces else ""
            if self._suffix and not body.strip():
                body = ""
            self._display_cache = (size, body + self._suffix)
        return self._display_cache[1]

    def _targets(self) -> list[tuple[str, bool]]:
        """(text, final) for every message the reply should consist of now (once closed, the
        last of them is the answer's last message)."""
        display = self._display()
        closed = self._status is not ReplyStatus.OPEN
        if not display.strip():
            if closed:
                return [(EMPTY_ANSWER, True)] + [(CUT_SHORT, True)] * (len(self._messages) - 1)
            return [(self._placeholder, False)] if self._started or self._messages else []
        self._layout.update(display, closed=closed)
        parts = [(part, True) for part in self._layout.parts]
        targets = [*parts, (self._layout.live(display, closed=closed), closed)]
        if closed and len(self._messages) > len(targets):  # adopted beyond the checkpoint
            targets += [(CUT_SHORT, True)] * (len(self._messages) - len(targets))
        return targets

    def _next_step(self) -> _Step | None:
        targets = self._targets()
        closed = self._status is not ReplyStatus.OPEN
        for index, (text, final) in enumerate(targets):
            last = closed and index == len(targets) - 1
            message = self._messages[index] if index < len(self._messages) else None
            if message is None or message.id is None:
                return _Step(index, text, final, post=True, last=last)
            if message.shown != text or (final and not message.final):
                return _Step(index, text, final, post=False, last=last)
        return None

    def _hold_until(self, step: _Step) -> float | None:
        """When a live (non-final) post may go, if not now (``math.inf``: once the text is
        complete or the edit scope is no longer busy); None to send it now."""
        if not step.post or step.final or self._posts is None:
            return None
        if self._limits.whole_under_load:
            # A new answer may stream if its final fits the budget's near future; a
            # continuation only if a token for its final is in the bucket already.
            horizon = PLAN_HORIZON if step.index == 0 else 0.0
            extra = 0 if self._slot.owes else 1  # already counted (a message shown, or reserved)
            if self._scope.busy(extra, horizon=horizon):
                return math.inf
        if step.index == 0:
            return None
        finalised = self._messages[step.index - 1].final_at
        if finalised is None:
            return None
        at = finalised + self._interval
        return at if at > self._clock.monotonic() else None

    def _scope_for(self, step: _Step) -> ScopeBudget:
        return self._posts if step.post and self._posts is not None else self._scope

    async def _flush(self) -> None:
        while not self._gave_up:
            if self._native is not None and not self._native.ended:
                await self._stream_step(self._native)
                continue
            step = self._next_step()
            if step is None:
                if self._status is not ReplyStatus.OPEN:
                    return
                await self._idle(math.inf)
                continue
            hold = self._hold_until(step)
            if hold is not None:
                await self._idle(hold)
                continue
            if step.post and not step.final:
                self._scope.owe(self._slot, True)  # counted before the post, so others see it
            scope = self._scope_for(step)
            if await self._turn(step, scope):
                await self._attempt(scope)

    def _streaming(self) -> bool:
        return self._native is not None and not self._native.ended

    def _raw(self) -> str:
        """The answer text so far, as one string."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    async def _stream_step(self, native: NativeStream) -> None:
        """One step of the native-stream phase; when it ends, the message is edited like
        any other (the phase never shows a final state itself)."""
        text = self._raw()
        closed = self._status is not ReplyStatus.OPEN
        if native.id is None:
            if closed or self._thinking:
                native.ended = True  # nothing shown yet: post as usual
            elif await native.open(text, affordable=not self._scope.busy()):
                self._messages = [_Message(native.id, "")]
                self._streamed(native, text)
                self._owe()
            elif not native.ended:
                await self._idle(math.inf)  # nothing safe to send yet
            return
        if closed:
            finished = self._status is ReplyStatus.FINISHED
            await native.close(text[native.sent :] if finished else "", last=finished)
        elif native.outgrown(self._size):
            await native.close("", last=False)
        elif native.due() > self._clock.monotonic():
            await self._idle(native.due())
            return
        elif await native.append(text) is Appended.NOTHING:
            await self._idle(math.inf)
            return
        self._streamed(native, text)

    def _streamed(self, native: NativeStream, text: str) -> None:
        """Record what the streamed message shows now."""
        message = self._messages[0]
        message.shown = self._sink.sanitize(text[: native.sent])
        message.sent_at = self._clock.monotonic()

    async def _idle(self, until: float) -> None:
        """Wait for new text or a close, or until ``until`` (clock time)."""
        self._dirty.clear()
        timer = None
        if until < math.inf:
            timer = self._clock.call_later(until - self._clock.monotonic(), self._dirty.set)
        try:
            await self._dirty.wait()
        finally:
            if timer is not None:
                timer.cancel()

    async def _turn(self, step: _Step, scope: ScopeBudget) -> bool:
        """Wait for this stream's turn in the scope; False (and give up) past the deadline."""
        not_before = self._retry.retry_at
        message = self._messages[step.index] if step.index < len(self._messages) else None
        paced = self._status is ReplyStatus.OPEN and not step.post and not step.final
        if paced and message is not None and message.sent_at is not None:
            not_before = max(not_before, message.sent_at + self._interval)
        first_text = message is not None and message.shown == self._placeholder
        final = step.post or step.final or first_text or self._status is not ReplyStatus.OPEN
        slot = self._post_slot if scope is not self._scope else self._slot
        deadline = self._retry.deadline()
        granted = await scope.acquire(slot, not_before=not_before, deadline=deadline, final=final)
        if not granted:
            self._give_up(f"no turn in scope {scope.name} within {FINAL_QUEUE_LIMIT:.0f}s")
        return granted

    async def _attempt(self, scope: ScopeBudget) -> None:
        """Send whatever is due now (the latest text), with the token just granted."""
        async with self._io:
            step = self._next_step()
            if (
                step is None
                or self._hold_until(step) is not None
                or self._scope_for(step) is not scope
            ):
                scope.refund()
                self._owe()  # drop a reservation made for a post that is not due now
                return
            try:
                await self._send(step)
            except SinkRateLimited as exc:
                scope.rate_limited(exc.retry_after)
                self._failed(exc, exc.retry_after, backoff=False)
            except SinkMessageGone as exc:
                self._gone(step, exc)
            except SinkError as exc:
                self._failed(exc, self._backoff(), backoff=True)
            except Exception as exc:
                logger.exception("sink of %s failed unexpectedly", self._slot.label)
                self._failed(exc, self._backoff(), backoff=True)
            else:
                scope.succeeded()
                self._retry.succeeded()
            finally:
                self._owe()

    def _owe(self) -> None:
        """Tell the edit scope whether this reply shows a message it must still edit."""
        owes = not self._gave_up and any(m.id is not None and not m.final for m in self._messages)
        self._scope.owe(self._slot, owes)

    async def _send(self, step: _Step) -> None:
        sent_at = self._clock.monotonic()
        if step.post:
            message_id = await self._sink.post(step.text, final=step.final, last=step.last)
            record = _Message(message_id, step.text, step.final)
            if step.text != self._placeholder:
                record.sent_at = sent_at
            if step.final:
                record.final_at = sent_at
            if step.index < len(self._messages):
                self._messages[step.index] = record
            else:
                self._messages.append(record)
            return
        message = self._messages[step.index]
        assert message.id is not None
        await self._sink.edit(message.id, step.text, final=step.final, last=step.last)
        message.shown, message.final, message.sent_at = step.text, step.final, sent_at
        if step.final:
            message.final_at = sent_at

    def _gone(self, step: _Step, exc: SinkMessageGone) -> None:
        if step.post:
            self._failed(exc, self._backoff(), backoff=True)
            return
        self._replaced += 1
        if self._replaced > MAX_REPLACEMENTS:
            self._give_up(f"{self._replaced} messages disappeared, last: {exc!r}")
            return
        logger.info(
            "%s: message %s is gone (%s); posting its text anew",
            self._slot.label,
            self._messages[step.index].id,
            exc,
        )
        self._messages[step.index] = _Message(None, "")

    def _backoff(self) -> float:
        return self._retry.backoff()

    def _failed(self, exc: BaseException, wait: float, *, backoff: bool) -> None:
        logger.debug("%s: request failed (%s), retry in %.2fs", self._slot.label, exc, wait)
        reason = self._retry.failed(wait, backoff=backoff)
        if reason is not None:
            self._give_up(f"{reason}, last: {exc!r}")

    def _give_up(self, reason: str) -> None:
        self._gave_up = True
        self._scope.owe(self._slot, False)
        logger.error(
            "giving up delivering the %s reply %s (messages %s): %s",
            self._status,
            self._slot.label,
            self.message_ids,
            reason,
        )


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "failed"
