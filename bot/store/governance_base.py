"""What governance needs from the store: ledger sums, flood counts, the audit log, and each
person's own data (export, erase). Part of the ``ConversationStore`` contract."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.model import ChatMessage, ConversationKey


@dataclass(frozen=True, slots=True)
class SpendRow:
    """Ledger totals of one (user, channel, model) over a period."""

    user_id: str
    channel: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded change: who changed what, where and when, from which value to which."""

    platform: str
    workspace: str
    channel: str
    actor: str
    action: str
    old_value: str
    new_value: str
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OwnMessage:
    """One stored message of a person's history, with the conversation it belongs to."""

    key: ConversationKey
    message: ChatMessage


class GovernanceStore(Protocol):
    """The store's governance queries (``bot.store.governance`` implements them in SQL)."""

    async def tokens_used(
        self,
        platform: str,
        workspace: str,
        since: datetime,
        *,
        user_id: str | None = None,
        channel: str | None = None,
    ) -> int:
        """Prompt + completion tokens in the ledger since ``since`` (for a user or channel)."""
        ...

    async def answers_requested(
        self, platform: str, workspace: str, user_id: str, since: datetime
    ) -> int:
        """How many answers ``user_id`` asked for since ``since`` (flood control)."""
        ...

    async def spend(
        self,
        platform: str,
        workspace: str,
        since: datetime,
        *,
        user_id: str | None = None,
        channel: str | None = None,
    ) -> list[SpendRow]:
        """Ledger totals by user, channel and model since ``since``."""
        ...

    async def change_settings(
        self, channel: ConversationKey, values: Mapping[str, Any], entry: AuditEntry
    ) -> None:
        """Replace a channel's overrides and record ``entry``, in one transaction."""
        ...

    async def audit_entries(
        self, platform: str | None, workspace: str | None, limit: int
    ) -> list[AuditEntry]:
        """The newest ``limit`` audit entries (of a platform / workspace), newest first."""
        ...

    async def user_history(self, platform: str, user_id: str) -> list[OwnMessage]:
        """Every live message ``user_id`` wrote on ``platform`` and every answer to them."""
        ...

    async def forget_user(self, platform: str, user_id: str) -> int:
        """Erase ``user_id``'s messages on ``platform`` and the answers to them (the usage
        ledger stays); return how many messages were erased."""
        ...
