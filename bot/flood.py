"""Flood control: at most ``USER_MESSAGES_PER_MINUTE`` questions per person per minute.

Decided: what counts is the answers a person asked for in the last 60 seconds in the
workspace (every channel, thread and DM), counted in the database so the limit holds across
replicas. A question past the limit is refused privately and not queued; refused questions
are not stored, so they do not count. 0 turns flood control off.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.errors import Refused
from bot.model import ConversationKey
from bot.store.governance_base import GovernanceStore

WINDOW = timedelta(minutes=1)


def notice(limit: int) -> str:
    """The private sentence for a question past the limit."""
    plural = "question" if limit == 1 else "questions"
    return (
        f"Slow down: Threadline takes at most {limit} {plural} a minute from each person. "
        "This one was not queued; send it again in a minute."
    )


async def check(
    store: GovernanceStore, key: ConversationKey, user_id: str, limit: int, now: datetime
) -> None:
    """``Refused`` when ``user_id`` already asked ``limit`` questions in the last minute."""
    if limit <= 0:
        return
    recent = await store.answers_requested(key.platform, key.workspace, user_id, now - WINDOW)
    if recent >= limit:
        raise Refused(notice(limit))
