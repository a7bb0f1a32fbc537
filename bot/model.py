"""The core's vocabulary: platform-neutral value types shared by engine, store and adapters.

Adapters translate platform events into these; nothing here knows Slack or Discord.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.attachments import Attachment


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Identity of one conversation.

    A thread is its own conversation (``thread`` set); messages outside threads belong to the
    channel's conversation (``thread == ""``), DMs included. ``workspace`` is the Slack team or
    the Discord guild ("" for DMs).
    """

    platform: str
    workspace: str
    channel: str
    thread: str = ""

    def channel_key(self) -> ConversationKey:
        """The key of the channel this conversation lives in (settings are inherited from it)."""
        return ConversationKey(self.platform, self.workspace, self.channel, "")

    def __str__(self) -> str:
        tail = f"/{self.thread}" if self.thread else ""
        return f"{self.platform}:{self.workspace}:{self.channel}{tail}"


class Role(StrEnum):
    """Author role of a message, as the chat-completions API names it."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class TurnStatus(StrEnum):
    """How a stored message ended. Only ``COMPLETE`` assistant turns are sent back as context."""

    COMPLETE = "complete"
    QUEUED = "queued"
    """An answer accepted and stored, waiting for its conversation's turn."""
    STREAMING = "streaming"
    STOPPED = "stopped"
    FAILED = "failed"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A user's message as an adapter hands it to the engine."""

    key: ConversationKey
    message_id: str
    author_id: str
    author_name: str
    text: str
    created_at: datetime | None = None
    is_direct: bool = False
    roles: tuple[str, ...] = ()
    """The author's roles where the platform has them (Discord: role ids and names)."""
    attachments: tuple[Attachment, ...] = ()
    """Files and images brought with the message (``bot.attachments``), fetched later."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage reported by the API for one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class ChatMessage:
    """One stored message of a conversation's history."""

    role: Role
    content: str
    author_id: str = ""
    author_name: str = ""
    status: TurnStatus = TurnStatus.COMPLETE
    id: int | None = None
    platform_message_ids: list[str] = field(default_factory=list)
    model: str = ""
    finish_reason: str = ""
    usage: Usage | None = None
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Stored extras (``alternatives``: the other choices of an ``n > 1`` answer); read by
    ``export`` and single-message lookups, left empty in the prompt's context."""
    requester: str = ""
    """On an answer: the user who asked for it."""
