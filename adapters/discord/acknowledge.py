"""Interaction responses that never raise: the first one bounded by Discord's 3-second deadline.

discord.py sends interaction callbacks through its webhook adapter, which retries a 5xx after
1 s, then 3 s, then 5 s: after two 5xx in a row its third attempt lands past Discord's 3-second
deadline (10062 Unknown interaction) and the user has long seen "The application did not
respond". So the first response (``acknowledge``) runs under a timeout that ends
``DEADLINE_BUDGET`` seconds after the interaction was created (its snowflake time): discord.py's
own retry happens only while still well within the deadline. At least ``ONE_ATTEMPT`` seconds are
always given (less than discord.py's first 1 s retry delay), so an interaction that arrives late,
or a clock that runs ahead of Discord's, still gets exactly one attempt.

Failures are logged as one line and reported as an ``Ack``, never raised: an exception escaping
a command callback reaches the command tree's error handler, whose own reply fails the same way
and ends as "Task exception was never retrieved". Error 40060 ("already acknowledged") means an
earlier attempt did land, so it counts as sent. Any other 4xx is Discord's final word (10062: the
interaction expired before it reached us): ``REFUSED``. 5xx, network errors and the deadline
passing are ``UNREACHABLE``: Discord was willing, but the response did not get through.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable
from typing import Any

import discord

from adapters.discord.errors import TRANSPORT_ERRORS

logger = logging.getLogger(__name__)

DEADLINE_BUDGET = 2.5
ONE_ATTEMPT = 0.9
ALREADY_ACKNOWLEDGED = 40060


class Ack(enum.Enum):
    """What became of an interaction's first response."""

    SENT = "sent"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"


def time_left(interaction: discord.Interaction[Any]) -> float:
    """Seconds the first response may take, retries included (see module doc)."""
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    return max(DEADLINE_BUDGET - max(age, 0.0), ONE_ATTEMPT)


async def acknowledge(
    interaction: discord.Interaction[Any], what: str, response: Awaitable[object]
) -> Ack:
    """Send the interaction's first response within the deadline (see ``Ack``)."""
    try:
        async with asyncio.timeout(time_left(interaction)):
            await response
    except discord.HTTPException as exc:
        if exc.code == ALREADY_ACKNOWLEDGED:
            return Ack.SENT
        _log_failure(interaction, what, f"Discord {exc.status} (code {exc.code})")
        return Ack.UNREACHABLE if exc.status >= 500 else Ack.REFUSED
    except TimeoutError:
        _log_failure(interaction, what, "no success within Discord's 3 s deadline")
        return Ack.UNREACHABLE
    except (discord.DiscordException, *TRANSPORT_ERRORS) as exc:
        _log_failure(interaction, what, f"{type(exc).__name__}: {exc}")
        return Ack.UNREACHABLE
    return Ack.SENT


async def quietly(
    interaction: discord.Interaction[Any], what: str, request: Awaitable[object]
) -> bool:
    """Send a later interaction request (followup, original edit); whether it was delivered."""
    try:
        await request
    except (discord.DiscordException, *TRANSPORT_ERRORS) as exc:
        _log_failure(interaction, what, f"{type(exc).__name__}: {exc}")
        return False
    return True


def _log_failure(interaction: discord.Interaction[Any], what: str, why: str) -> None:
    logger.warning("interaction %s: %s failed: %s", interaction.id, what, why)
