"""The reply surface the engine writes to, and the sink platforms implement under it.

``StreamedReply`` is a small state machine: ``open → finished | failed | stopped``. Calling
``append``, ``finish``, ``fail`` or ``stop`` after it closed raises ``ReplyClosedError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from bot.reply.graphemes import is_boundary
from bot.reply.units import TextUnit


class StreamedReply(Protocol):
    """What the engine writes an answer to."""

    async def start(self) -> None:
        """Show that the request was accepted (placeholder or activity indicator); idempotent."""
        ...

    async def append(self, text: str) -> None:
        """Add answer text; it must become visible promptly but must never block on the platform."""
        ...

    async def finish(self) -> None:
        """Close the reply; afterwards the platform shows exactly the full answer."""
        ...

    async def fail(self, notice: str) -> None:
        """Close the reply as failed: keep the partial text, append a short ``notice``."""
        ...

    async def stop(self) -> None:
        """Close the reply because the user stopped it: keep what was shown, mark it stopped."""
        ...

    @property
    def message_ids(self) -> list[str]:
        """Platform ids of the messages that hold this reply, in order."""
        ...


@runtime_checkable
class ShowsReasoning(Protocol):
    """A reply that can show the model's reasoning while it streams (``show_reasoning``)."""

    async def reasoning(self, text: str) -> None:
        """More reasoning text: shown until the answer's first text replaces it, never kept."""
        ...


@runtime_checkable
class ThinkingView(Protocol):
    """A sink that shows reasoning its platform's own way (Slack: a context block; Discord:
    a spoiler). Without it, ``ProgressiveReply`` shows the tail in italics (``reasoning_view``).
    """

    def thinking(self, tail: str) -> str:
        """The placeholder text for a reasoning ``tail`` (raw model text, starting on a
        grapheme boundary): within the platform's limit, unable to ping anyone or to break
        out of its markup, whatever the tail holds. ``post``/``edit`` then receive it as is."""
        ...


def grapheme_tail(text: str, size: int) -> str:
    """At most the last ``size`` code points of ``text``, starting on a grapheme boundary, so
    a shortened reasoning tail never opens with half an emoji or a stray combining mark."""
    start = max(0, len(text) - size)
    while not is_boundary(text, start):
        start += 1
    return text[start:]


@dataclass(frozen=True, slots=True)
class SinkLimits:
    """A platform's limits and capabilities, as the progressive reply plans with them.

    ``rate_scope`` names the budget that edits share (Slack: the workspace for ``chat.update``;
    Discord: the channel). Streams with the same scope share ``edits_per_minute`` fairly.
    ``max_chars`` is counted in ``unit``, the way the platform counts it (``bot.reply.units``).

    ``post_scope`` names a separate budget for new messages (Slack: ``chat.postMessage`` per
    channel; Discord: the channel's POST route), ``posts_per_minute`` and ``post_burst`` its
    size. Empty: posts draw from the edit scope (and the placeholder is never held).

    ``whole_under_load``: the sink may show an answer without a placeholder, each message
    posted once, whole and final, when the edit scope cannot afford the edits a streamed answer
    costs (``ScopeBudget.busy``); a continuation message is then also posted whole.
    """

    max_chars: int
    rate_scope: str
    edits_per_minute: float
    burst: int = 1
    min_edit_interval: float = 1.0
    unit: TextUnit = TextUnit.CODE_POINTS
    post_scope: str = ""
    posts_per_minute: float = 60.0
    post_burst: int = 1
    whole_under_load: bool = False

    def post_limits(self) -> SinkLimits:
        """The limits of the post budget, as a scope of its own."""
        return SinkLimits(
            max_chars=self.max_chars,
            rate_scope=self.post_scope,
            edits_per_minute=self.posts_per_minute,
            burst=self.post_burst,
            min_edit_interval=0.0,
            unit=self.unit,
        )


class Role(StrEnum):
    """What a message is in its answer: still being written, a finished part of a longer
    answer (no buttons), or the answer's last message in its final state (final buttons)."""

    STREAMING = "streaming"
    PART = "part"
    LAST = "last"

    @classmethod
    def of(cls, *, final: bool, last: bool) -> Role:
        if not final:
            return cls.STREAMING
        return cls.LAST if last else cls.PART


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """The budgets of a sink's native streaming (``StreamingSink``), planned by the scheduler.

    ``start_scope`` is shared by opening and closing streams (Slack: ``chat.startStream`` and
    ``chat.stopStream``, Tier 2 per workspace); ``append_scope`` by appends (Slack:
    ``chat.appendStream``, Tier 4). One stream appends at most every ``append_interval``
    seconds and is ended (then edited like any message) after ``max_age`` seconds.
    """

    start_scope: str
    starts_per_minute: float
    start_burst: int
    append_scope: str
    appends_per_minute: float
    append_burst: int
    append_interval: float
    max_age: float

    def start_limits(self, max_chars: int) -> SinkLimits:
        """The start/stop scope as the scheduler plans it."""
        return _scope(self.start_scope, self.starts_per_minute, self.start_burst, max_chars)

    def append_limits(self, max_chars: int) -> SinkLimits:
        """The append scope as the scheduler plans it."""
        return _scope(self.append_scope, self.appends_per_minute, self.append_burst, max_chars)


def _scope(name: str, per_minute: float, burst: int, max_chars: int) -> SinkLimits:
    return SinkLimits(
        max_chars=max_chars,
        rate_scope=name,
        edits_per_minute=per_minute,
        burst=burst,
        min_edit_interval=0.0,
    )


class MessageSink(Protocol):
    """One platform's post and edit, for one reply target (a channel or thread).

    Both raise ``SinkRateLimited`` on a 429 (with ``retry_after``), ``SinkMessageGone`` when the
    message can no longer be edited, and ``SinkError`` for anything else (with the platform's
    ``code``). ``final`` tells the platform whether this is the message's last state; ``last``
    whether it is also the answer's last message, closed (``Role.of`` names the three roles:
    Stop while streaming, nothing on a finished part, Regenerate on the last). The reply
    decides both; a sink never needs to read the reply's state.
    """

    @property
    def limits(self) -> SinkLimits: ...

    async def post(self, text: str, *, final: bool, last: bool = False) -> str:
        """Post a new message in the target; return its platform id."""
        ...

    async def edit(self, message_id: str, text: str, *, final: bool, last: bool = False) -> None:
        """Replace the text of a message this sink posted."""
        ...

    def sanitize(self, text: str) -> str:
        """Neutralise what must not reach the platform as-is (mass mentions)."""
        ...


@runtime_checkable
class StreamingSink(Protocol):
    """A sink that can also stream a message natively: text is appended, never replaced.

    ``ProgressiveReply`` streams an answer's first message this way while ``streams()`` and the
    budgets allow, then edits it like any message (``MessageSink.edit``), which also ends the
    stream on the platform. Text appended can't be taken back, so the reply sends only what
    ``stream_cut`` says is safe now (a tail that could still become a ping waits). Errors as
    for ``MessageSink``; ``SinkMessageGone`` from ``append_stream`` means the platform ended
    the stream (the message can still be edited).
    """

    @property
    def stream_limits(self) -> StreamLimits: ...

    def streams(self) -> bool:
        """Whether native streaming is worth trying for this target now."""
        ...

    def stream_cut(self, text: str) -> int:
        """How many leading characters of ``text`` (raw answer text) are safe to send now."""
        ...

    async def open_stream(self, text: str) -> str:
        """Start a streamed message showing ``text`` (with Stop); return its id."""
        ...

    async def append_stream(self, message_id: str, text: str) -> None:
        """Append ``text`` to the streamed message."""
        ...

    async def close_stream(self, message_id: str, text: str, *, last: bool) -> None:
        """End the stream, appending ``text``; ``last``: the answer is finished."""
        ...
