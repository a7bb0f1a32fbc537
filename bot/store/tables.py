"""The database schema, declared once for the store and for Alembic autogenerate.

Every timestamp is a timezone-aware UTC ``datetime`` in Python. PostgreSQL stores it as
``timestamptz``; SQLite has no time zones, so ``UTCDateTime`` stores UTC wall time and marks
values read back as UTC. A naive ``datetime`` given to the store is taken to be UTC already.

Ids that can grow without bound are ``BIGINT`` on PostgreSQL and SQLite's ``INTEGER PRIMARY
KEY`` rowid (``AUTOINCREMENT`` on ``messages``, so ids never go back after a purge; the reset
marker ``conversations.context_start`` relies on that).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = 255  # length of platform identifiers (team, guild, channel, user and message ids)
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC ``datetime`` on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    """Declarative base carrying the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Conversation(Base):
    """One conversation; ``context_start`` is the reset marker (messages with id > it are live)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("platform", "workspace", "channel", "thread"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(ID))
    channel: Mapped[str] = mapped_column(String(ID))
    thread: Mapped[str] = mapped_column(String(ID))
    context_start: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Message(Base):
    """One stored turn. ``deleted`` rows are kept (content blanked) but never loaded."""

    __tablename__ = "messages"
    __table_args__ = (
        Index(None, "conversation_id", "id"),
        Index(None, "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str] = mapped_column(String(ID), default="")
    author_name: Mapped[str] = mapped_column(String(ID), default="")
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(ID), default="")
    finish_reason: Mapped[str] = mapped_column(String(64), default="")
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    platform_message_ids: Mapped[list[str]] = mapped_column(JSON)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON)
    feedback: Mapped[int | None] = mapped_column(SmallInteger)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    requester: Mapped[str] = mapped_column(String(ID), default="", server_default="")
    """On an answer: who asked (Stop/Regenerate belong to them; usage is charged to them)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MessageRef(Base):
    """Platform message id → stored message, unique per conversation."""

    __tablename__ = "message_refs"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    platform_message_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )


class ChannelSettings(Base):
    """Per-channel overrides (system prompt, generation parameters)."""

    __tablename__ = "channel_settings"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(ID), primary_key=True)
    channel: Mapped[str] = mapped_column(String(ID), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessedEvent(Base):
    """A platform event id already handled (deduplication across restarts and replicas)."""

    __tablename__ = "processed_events"

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class UsageEntry(Base):
    """Token usage of one completion."""

    __tablename__ = "usage_ledger"
    __table_args__ = (Index(None, "platform", "workspace", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(ID))
    channel: Mapped[str] = mapped_column(String(ID))
    thread: Mapped[str] = mapped_column(String(ID))
    user_id: Mapped[str] = mapped_column(String(ID))
    model: Mapped[str] = mapped_column(String(ID))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Counted by Threadline (the endpoint reported no usage), not billed figures."""


class AppState(Base):
    """Small values every process sharing the database agrees on (migration 0004), such as
    the hash of the Discord commands last registered."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(ID), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AnswerJob(Base):
    """An answer that is owed: queued or streaming. The row is the promise; it is deleted in
    the same transaction that stores the answer's final state.

    ``owner`` is the process working on it and ``lease_until`` how long that claim holds; a
    live owner renews it (heartbeat), and any process may take over a lapsed one. ``target``
    is the adapter's description of where the answer goes (enough to rebuild its reply after
    a restart); ``overrides`` are per-request parameters (Discord ``/chat model:``).
    """

    __tablename__ = "answer_jobs"
    __table_args__ = (Index(None, "lease_until"), Index(None, "conversation_id", "message_id"))

    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(128), default="")
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
    target: Mapped[dict[str, Any]] = mapped_column(JSON)
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON)
    requester: Mapped[str] = mapped_column(String(ID))
    supersedes: Mapped[int | None] = mapped_column(BigInteger)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditLog(Base):
    """One governance change (settings, access, quotas): who, what, where, when, old → new."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "platform", "workspace", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(ID))
    channel: Mapped[str] = mapped_column(String(ID))
    actor: Mapped[str] = mapped_column(String(ID))
    action: Mapped[str] = mapped_column(String(ID))
    old_value: Mapped[str] = mapped_column(Text)
    new_value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Governance reads (migration 0005): flood control counts a user's answers in the last minute;
# quotas sum a user's or a channel's ledger rows of the current day or month.
Index(None, Message.requester, Message.created_at)
Index(None, UsageEntry.platform, UsageEntry.workspace, UsageEntry.user_id, UsageEntry.created_at)
Index(None, UsageEntry.platform, UsageEntry.workspace, UsageEntry.channel, UsageEntry.created_at)


class ChannelMessage(Base):
    """A message seen in a channel, kept only as context for a later mention there
    (``channel_context``); the newest ``bot.features.MAX_CONTEXT`` per channel (migration 0006)."""

    __tablename__ = "channel_messages"
    __table_args__ = (Index(None, "platform", "workspace", "channel", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str] = mapped_column(String(ID))
    channel: Mapped[str] = mapped_column(String(ID))
    message_id: Mapped[str] = mapped_column(String(ID))
    author_id: Mapped[str] = mapped_column(String(ID))
    author_name: Mapped[str] = mapped_column(String(ID))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
