"""Each person's own data: ``export`` it (a file sent privately) and ``forget`` it.

Decided: a person's data is every message they wrote on a platform and every answer they
asked for, in all its workspaces, channels, threads and DMs. ``forget`` asks for a
confirmation first (``forget confirm``, a button on Discord, ``--yes`` in the CLI), then
deletes those messages for good; the usage ledger (tokens per answer, no content) and the
audit log stay. The export is JSON lines, one message a line, in the shape of
``threadline export`` plus the conversation each message belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.model import ChatMessage
from bot.store.governance_base import GovernanceStore, OwnMessage

CONFIRM = "confirm"


def filename(platform: str, user_id: str) -> str:
    """The export's file name."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in user_id)[:64]
    return f"threadline-{platform}-{safe or 'user'}.jsonl"


async def export(store: GovernanceStore, platform: str, user_id: str) -> bytes:
    """Every stored message of ``user_id`` on ``platform`` (and the answers to them)."""
    return render(await store.user_history(platform, user_id))


def render(history: Sequence[OwnMessage]) -> bytes:
    """JSON lines, oldest first; empty for no history."""
    return "".join(json.dumps(_line(own), ensure_ascii=False) + "\n" for own in history).encode()


def _line(own: OwnMessage) -> dict[str, Any]:
    where = {"workspace": own.key.workspace, "channel": own.key.channel, "thread": own.key.thread}
    return where | exported(own.message)


def exported(message: ChatMessage) -> dict[str, Any]:
    """One stored message as an export line holds it (``export`` here and on the CLI)."""
    return {
        "role": message.role.value,
        "author_id": message.author_id,
        "author_name": message.author_name,
        "content": message.content,
        "status": message.status.value,
        "model": message.model,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "alternatives": list(message.extra.get("alternatives") or []),
    }


async def ask_to_forget(store: GovernanceStore, platform: str, user_id: str, how: str) -> str:
    """What ``forget`` says before anything is erased; ``how`` says how to confirm."""
    count = len(await store.user_history(platform, user_id))
    if not count:
        return "Threadline keeps no messages of yours, so there is nothing to erase."
    return (
        f"This erases all {count} stored message(s) of yours on {platform} and the answers to "
        "them, in every channel, thread and DM, for good. Usage figures (token counts, without "
        f"any content) stay. {how}"
    )


async def forget(store: GovernanceStore, platform: str, user_id: str) -> str:
    """Erase the person's messages and the answers to them; say how many went."""
    erased = await store.forget_user(platform, user_id)
    return f"Done: {erased} stored message(s) erased. Usage figures stay, without any content."
