"""``ReplyFactory``: what adapters use to make a ``ProgressiveReply`` for one reply target.

One factory (one ``RateScheduler``, one ``Clock``) serves the whole process, so every reply in
a rate scope shares that scope's budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.reply.base import MessageSink
from bot.reply.clock import Clock, SystemClock
from bot.reply.progressive import INDICATOR, PLACEHOLDER, ProgressiveReply
from bot.reply.scheduler import RateScheduler


class ReplyFactory:
    """Creates progressive replies that share one scheduler and clock."""

    def __init__(
        self,
        scheduler: RateScheduler,
        clock: Clock,
        *,
        indicator: str = INDICATOR,
        placeholder: str = PLACEHOLDER,
    ) -> None:
        self.scheduler = scheduler
        self.clock = clock
        self.indicator = indicator
        self.placeholder = placeholder

    @classmethod
    def default(cls) -> ReplyFactory:
        """A factory on real time with the default indicator and placeholder."""
        clock = SystemClock()
        return cls(RateScheduler(clock), clock)

    def create(
        self,
        sink: MessageSink,
        *,
        shown_text: str = "",
        adopt: Sequence[str] = (),
    ) -> ProgressiveReply:
        """A reply written through ``sink``.

        ``adopt`` takes over the messages of an interrupted answer (after a restart): the
        reply's answer begins with ``shown_text`` and every adopted message is edited to its
        part of it when the reply closes (messages past the text show ``CUT_SHORT``).
        """
        return ProgressiveReply(
            sink,
            self.scheduler,
            self.clock,
            indicator=self.indicator,
            placeholder=self.placeholder,
            shown_text=shown_text,
            adopt=adopt,
        )
