"""discord.py's connection state, with each gateway event parser guarded: an unreadable event is
dropped with one log line instead of taking the whole client down.

Why here, and only here: ``DiscordWebSocket.received_message`` calls
``ConnectionState.parsers[event](data)`` inline, inside the shard's ``poll_event``. An exception
from a parser (a partial ``MESSAGE_UPDATE`` of ``{id, channel_id, guild_id, embeds}``, an
``INTERACTION_CREATE`` without ``version``, ``attachment_size_limit`` or ``member.flags``: all
``KeyError`` in discord.py's model constructors) is not one of the network errors
``Shard.worker`` handles, so the shard queues ``terminate`` and ``AutoShardedClient.connect``
closes the whole client, HTTP session included, and re-raises: the process ends. The websocket
reads the very ``parsers`` dict its state built from its ``parse_*`` methods, so replacing that
dict's entries in our own state (returned by ``ThreadlineClient._get_state``) guards exactly
these calls, for this client only, without patching discord.py globally. Event handlers
(``on_message`` ...) are unaffected: discord.py already runs them in tasks and logs their errors.

Decisions:
- the event is dropped (its state change is lost; the next event of that kind is parsed anew);
- one warning line per event type at most once a minute, counting those dropped in between
  (a stream of malformed events cannot flood the log); the traceback is logged at debug;
- ``READY`` stays unguarded: without it the client knows neither its user nor its application,
  so discord.py closing the client and Threadline exiting is the honest outcome.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from discord.state import AutoShardedConnectionState

logger = logging.getLogger(__name__)

LOG_EVERY = 60.0
UNGUARDED = frozenset({"READY"})

Parser = Callable[[Any], None]


class DroppedEvents:
    """Counts the events dropped per type and decides when to log them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._logged: dict[str, float] = {}
        self.dropped: Counter[str] = Counter()

    def guard(self, event: str, parser: Parser) -> Parser:
        """``parser`` that drops (and reports) ``event`` when discord.py cannot read it."""

        def guarded(data: Any) -> None:
            try:
                parser(data)
            except Exception as exc:  # any parser failure means: unreadable
                self.report(event, exc)

        return guarded

    def report(self, event: str, exc: Exception) -> None:
        self.dropped[event] += 1
        logger.debug("unreadable %s event", event, exc_info=exc)
        now = self._clock()
        last = self._logged.get(event)
        if last is not None and now - last < LOG_EVERY:
            return
        since = self.dropped[event]
        self.dropped[event] = 0
        self._logged[event] = now
        logger.warning(
            "Discord: dropped %d %s event(s) discord.py could not read (%s: %s); "
            "at most one such line per %.0f s",
            since,
            event,
            type(exc).__name__,
            exc,
            LOG_EVERY,
        )


class GuardedState(AutoShardedConnectionState[Any]):
    """``AutoShardedConnectionState`` whose parsers drop unreadable events (see module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dropped_events = DroppedEvents()
        for event, parser in list(self.parsers.items()):
            if event not in UNGUARDED:
                self.parsers[event] = self.dropped_events.guard(event, parser)
