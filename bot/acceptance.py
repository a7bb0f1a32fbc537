"""Accepting a question: from here on its answer is owed.

``Acceptance.accept`` stores the user's message, the reserved answer row and the job that owes
it in one transaction (only then may the platform be told "got it"), after the governance checks
(access, flood control, quotas). ``record`` stores a message without answering it; ``seen``
keeps a channel message as context for later mentions (``bot.channel_context``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot import branches, features
from bot.attachments import Attachment
from bot.engine_config import EngineConfig
from bot.errors import ShuttingDown, StoreError
from bot.governance import Governance, Overrides
from bot.live import Live
from bot.model import ChatMessage, ConversationKey, IncomingMessage, Role
from bot.store.ambient import SeenMessage
from bot.store.base import ConversationStore
from bot.textclean import scrub
from bot.work import WorkKeeper

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A question stored with its reserved answer: from here on the answer is owed."""

    key: ConversationKey
    answer_id: int
    requester: str
    overrides: dict[str, Any]
    received: float
    attachments: tuple[Attachment, ...] = ()
    """The question's files, fetched in the answer's turn (not stored: a takeover names them
    as not fetched)."""


class Acceptance:
    """Stores questions and the messages around them, before any answer runs."""

    def __init__(
        self,
        store: ConversationStore,
        config: EngineConfig,
        *,
        live: Live,
        work: WorkKeeper,
        governance: Governance,
        channel_overrides: Overrides,
    ) -> None:
        self._store = store
        self._config = config
        self._live = live
        self._work = work
        self._governance = governance
        self._channel_overrides = channel_overrides

    async def accept(
        self,
        message: IncomingMessage,
        *,
        target: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
        claims: Sequence[tuple[str, str]] = (),
    ) -> Accepted | None:
        """Store ``message`` with its reserved answer and the job that owes it.

        Only after this returns may the platform be told "got it". ``StoreError`` when the
        database cannot take it (the adapter refuses the event or tells the user); None when
        one of ``claims`` was already taken (a duplicate delivery).
        """
        received = time.perf_counter()  # the event's arrival, for the latency metrics
        if self._live.closing:
            raise ShuttingDown("shutting down")
        asked, options = branches.split(overrides)
        self._config.defaults.merged(asked)  # SettingError before anything is stored
        await self._governance.admit(message)  # Refused: access, flood control, a used-up quota
        overrides = asked | await self._branch(message.key, options)
        spec = self._work.spec(dict(target or {}), message.author_id, overrides)
        answer_id = await self._live.write(
            self._store.accept(message.key, _user_turn(message), spec, claims)
        )
        if answer_id is None:
            return None
        return Accepted(
            message.key,
            answer_id,
            message.author_id,
            dict(overrides or {}),
            received,
            message.attachments,
        )

    async def seen(self, message: IncomingMessage) -> None:
        """Keep a top-level channel message as context for later mentions, where the channel
        has ``channel_context`` on (nothing is kept elsewhere); failures are only logged."""
        channel = message.key.channel_key()
        try:
            if message.is_direct or not features.context_count(
                await self._channel_overrides(channel)
            ):
                return
            seen = SeenMessage(
                message.message_id,
                message.author_id,
                message.author_name,
                message.text,
                message.created_at,
            )
            await self._store.record_seen(channel, seen)
        except StoreError as exc:
            logger.warning("channel %s: message not kept as context: %s", channel, exc)

    async def _branch(self, key: ConversationKey, options: dict[str, Any]) -> dict[str, Any]:
        """The turn options to store: a reply's platform message id becomes the replied-to
        answer's row id (``bot.branches``); anything else is dropped."""
        kept = {branches.SHORTCUT: True} if options.get(branches.SHORTCUT) else {}
        replied = options.get(branches.BRANCH_FROM)
        found = await self._store.find_message(key, str(replied)) if replied else None
        if found is None or found.role is not Role.ASSISTANT or found.id is None:
            return kept
        return kept | {branches.BRANCH: found.id}

    async def record(
        self, message: IncomingMessage, *, claims: Sequence[tuple[str, str]] = ()
    ) -> bool:
        """Store a message of a conversation the bot is in, without answering it; False for a
        duplicate delivery."""
        stored = await self._live.write(
            self._store.accept(message.key, _user_turn(message), None, claims)
        )
        return stored is not None


def _user_turn(message: IncomingMessage) -> ChatMessage:
    return ChatMessage(
        role=Role.USER,
        content=scrub(message.text),
        author_id=message.author_id,
        author_name=scrub(message.author_name),
        platform_message_ids=[message.message_id] if message.message_id else [],
        created_at=message.created_at,
        extra={"files": [a.describe() for a in message.attachments]} if message.attachments else {},
    )


__all__ = ["Acceptance", "Accepted"]
