"""The ``ConversationStore`` contract the engine relies on.

Every method is one short transaction: no transaction stays open while a reply streams.
``key`` arguments identify conversations; settings live on channel keys (``thread == ""``)
and threads inherit them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.model import ChatMessage, ConversationKey, TurnStatus, Usage
from bot.store.ambient import AmbientStore
from bot.store.governance_base import GovernanceStore
from bot.store.state import StateStore


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Token totals for one user (or one conversation) over a period."""

    subject: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(slots=True)
class MessageUpdate:
    """Fields of a stored message to change; ``None`` leaves a field as it is."""

    content: str | None = None
    status: TurnStatus | None = None
    finish_reason: str | None = None
    model: str | None = None
    usage: Usage | None = None
    platform_message_ids: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What is stored with an accepted answer so any process can deliver it later."""

    owner: str
    lease_until: datetime
    target: dict[str, Any]
    requester: str
    overrides: dict[str, Any] = field(default_factory=dict)
    supersedes: int | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """An owed answer as a process claims it: queued, or streaming with its checkpoint."""

    answer_id: int
    key: ConversationKey
    state: str
    target: dict[str, Any]
    requester: str
    overrides: dict[str, Any]
    supersedes: int | None
    text: str
    message_ids: list[str]


JOB_QUEUED = "queued"
JOB_STREAMING = "streaming"


class ConversationStore(AmbientStore, GovernanceStore, StateStore, Protocol):
    """Conversation history, channel settings, event deduplication and the usage ledger
    (with the governance queries of ``GovernanceStore``)."""

    def conversation_lock(self, key: ConversationKey) -> AbstractAsyncContextManager[None]:
        """Hold the conversation's turn across every process sharing the database."""
        ...

    async def ping(self) -> bool:
        """Whether the database answers (health checks)."""
        ...

    async def accept(
        self,
        key: ConversationKey,
        question: ChatMessage,
        job: JobSpec | None,
        claims: Sequence[tuple[str, str]] = (),
    ) -> int | None:
        """Store a question and, with ``job``, its reserved answer and the job that owes it,
        in one transaction, after claiming every ``(platform, event_id)`` of ``claims``.

        Returns the answer's id (the question's id without ``job``), or None when a claim was
        already taken (a duplicate delivery: nothing is stored).
        """
        ...

    async def reserve(self, key: ConversationKey, job: JobSpec) -> int:
        """Store a new pending answer (a regenerate) with its job; return the answer's id."""
        ...

    async def start_job(self, answer_id: int, owner: str) -> bool | None:
        """Mark an owned job (and its answer) streaming. None if the job is gone or owned by
        another process; otherwise whether a stop was requested before it started."""
        ...

    async def checkpoint(self, answer_id: int, text: str, message_ids: Sequence[str]) -> None:
        """Save a streaming answer's text so far and the platform ids of its messages."""
        ...

    async def finish_job(self, answer_id: int, update: MessageUpdate) -> None:
        """Store the answer's final state and delete its job, in one transaction."""
        ...

    async def renew_leases(self, owner: str, until: datetime) -> list[int]:
        """Extend every lease ``owner`` holds; return the ids of its jobs asked to stop."""
        ...

    async def claim_jobs(
        self,
        owner: str,
        until: datetime,
        platforms: Sequence[str],
        *,
        any_owner: bool,
        limit: int,
        now: datetime | None = None,
    ) -> list[Job]:
        """Take over lapsed jobs of ``platforms`` (with ``any_owner``: every job not owned by
        ``owner``, for a single-process database at start), oldest first."""
        ...

    async def database_now(self) -> datetime:
        """The database server's current time (UTC)."""
        ...

    async def stop_requests(self, owner: str) -> list[int]:
        """Ids of ``owner``'s jobs someone asked to stop (a cheap read, polled while live)."""
        ...

    async def release_jobs(self, owner: str) -> int:
        """Give up ``owner``'s leases at once (shutdown), so another process takes them."""
        ...

    async def request_stop(self, answer_id: int) -> bool:
        """Flag a job to stop (its owner sees it at the next heartbeat); False if none."""
        ...

    async def earlier_owed(self, key: ConversationKey, answer_id: int) -> bool:
        """Whether an answer older than ``answer_id`` in ``key``'s conversation is still owed."""
        ...

    async def job_exists(self, answer_id: int) -> bool:
        """Whether the answer is still owed (queued or streaming)."""
        ...

    async def add_message(self, key: ConversationKey, message: ChatMessage) -> int:
        """Store ``message`` (creating the conversation if needed); return its id."""
        ...

    async def add_messages(
        self, key: ConversationKey, messages: Sequence[ChatMessage]
    ) -> list[int]:
        """Store several messages in order, in one transaction; return their ids."""
        ...

    async def update_message(self, message_id: int, update: MessageUpdate) -> None:
        """Change a stored message."""
        ...

    async def load_context(self, key: ConversationKey, limit: int) -> list[ChatMessage]:
        """The newest ``limit`` live messages since the last reset, oldest first (one query)."""
        ...

    async def has_conversation(self, key: ConversationKey) -> bool:
        """Whether the bot has taken part in this conversation."""
        ...

    async def find_message(
        self, key: ConversationKey, platform_message_id: str
    ) -> ChatMessage | None:
        """The stored message holding ``platform_message_id`` (user or assistant)."""
        ...

    async def edit_message(self, key: ConversationKey, platform_message_id: str, text: str) -> bool:
        """Replace a stored user message's text after a platform edit; False if unknown."""
        ...

    async def delete_message(self, key: ConversationKey, platform_message_id: str) -> bool:
        """Remove a stored message from history after a platform delete; False if unknown."""
        ...

    async def last_assistant_turn(self, key: ConversationKey) -> ChatMessage | None:
        """The latest assistant message in the current context, whatever its status."""
        ...

    async def reset(self, key: ConversationKey) -> None:
        """Start a fresh context: earlier messages stay stored but are no longer sent."""
        ...

    async def export(self, key: ConversationKey) -> list[ChatMessage]:
        """Every stored message of the conversation, oldest first."""
        ...

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete messages older than ``cutoff``; return how many."""
        ...

    async def purge_events_before(self, cutoff: datetime) -> int:
        """Forget processed-event ids older than ``cutoff``; return how many."""
        ...

    async def get_settings(self, channel: ConversationKey) -> dict[str, Any]:
        """Per-channel overrides (system_prompt and generation parameters)."""
        ...

    async def set_settings(self, channel: ConversationKey, values: dict[str, Any]) -> None:
        """Replace the per-channel overrides."""
        ...

    async def claim_event(self, platform: str, event_id: str) -> bool:
        """Record a platform event id; True the first time, False for a duplicate."""
        ...

    async def record_usage(
        self,
        key: ConversationKey,
        user_id: str,
        model: str,
        usage: Usage,
        *,
        estimated: bool = False,
    ) -> None:
        """Add a completion's token usage to the ledger (``estimated``: counted by Threadline
        because the endpoint reported none)."""
        ...

    async def usage_by_user(self, platform: str, workspace: str, since: datetime) -> list[UsageRow]:
        """Ledger totals per user in a workspace since ``since``, largest first."""
        ...

    async def set_feedback(
        self, key: ConversationKey, platform_message_id: str, value: int
    ) -> bool:
        """Store thumbs up (+1) / down (-1) on an assistant message; False if unknown."""
        ...
