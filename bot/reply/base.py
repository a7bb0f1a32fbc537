"""The reply surface the engine writes to, and the sink platforms implement under it.

``StreamedReply`` is a small state machine: ``open → finished | failed | stopped``. Calling
``append``, ``finish``, ``fail`` or ``stop`` after it closed raises ``ReplyClosedError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class SinkLimits:
    """A platform's limits, as the progressive reply needs them.

    ``rate_scope`` names the budget that edits share (Slack: the workspace for ``chat.update``;
    Discord: the channel). Streams with the same scope share ``edits_per_minute`` fairly.
    ``max_chars`` is counted in ``unit``, the way the platform counts it (``bot.reply.units``).
    """

    max_chars: int
    rate_scope: str
    edits_per_minute: float
    burst: int = 1
    min_edit_interval: float = 1.0
    unit: TextUnit = TextUnit.CODE_POINTS


class MessageSink(Protocol):
    """One platform's post and edit, for one reply target (a channel or thread).

    Both raise ``SinkRateLimited`` on a 429 (with ``retry_after``), ``SinkMessageGone`` when the
    message can no longer be edited, and ``SinkError`` for anything else. ``final`` tells the
    platform whether this is the message's last state (so it can swap Stop for Regenerate).
    """

    @property
    def limits(self) -> SinkLimits: ...

    async def post(self, text: str, *, final: bool) -> str:
        """Post a new message in the target; return its platform id."""
        ...

    async def edit(self, message_id: str, text: str, *, final: bool) -> None:
        """Replace the text of a message this sink posted."""
        ...

    def sanitize(self, text: str) -> str:
        """Neutralise what must not reach the platform as-is (mass mentions)."""
        ...
