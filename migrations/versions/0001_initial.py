"""Initial schema.

Tables: conversations, messages, message_refs, channel_settings, processed_events, usage_ledger.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = 255


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=ID), nullable=False),
        sa.Column("channel", sa.String(length=ID), nullable=False),
        sa.Column("thread", sa.String(length=ID), nullable=False),
        sa.Column("context_start", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint(
            "platform",
            "workspace",
            "channel",
            "thread",
            name=op.f("uq_conversations_platform_workspace_channel_thread"),
        ),
    )
    op.create_table(
        "channel_settings",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=ID), nullable=False),
        sa.Column("channel", sa.String(length=ID), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint(
            "platform", "workspace", "channel", name=op.f("pk_channel_settings")
        ),
    )
    op.create_table(
        "processed_events",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=ID), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "event_id", name=op.f("pk_processed_events")),
    )
    op.create_index(
        op.f("ix_processed_events_created_at"), "processed_events", ["created_at"], unique=False
    )
    op.create_table(
        "usage_ledger",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=ID), nullable=False),
        sa.Column("channel", sa.String(length=ID), nullable=False),
        sa.Column("thread", sa.String(length=ID), nullable=False),
        sa.Column("user_id", sa.String(length=ID), nullable=False),
        sa.Column("model", sa.String(length=ID), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_ledger")),
    )
    op.create_index(
        op.f("ix_usage_ledger_platform_workspace_created_at"),
        "usage_ledger",
        ["platform", "workspace", "created_at"],
        unique=False,
    )
    _create_messages()
    _create_message_refs()


def _create_messages() -> None:
    op.create_table(
        "messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.String(length=ID), nullable=False),
        sa.Column("author_name", sa.String(length=ID), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=ID), nullable=False),
        sa.Column("finish_reason", sa.String(length=64), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("platform_message_ids", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("feedback", sa.SmallInteger(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_messages_conversation_id_id"), "messages", ["conversation_id", "id"], unique=False
    )
    op.create_index(op.f("ix_messages_created_at"), "messages", ["created_at"], unique=False)


def _create_message_refs() -> None:
    op.create_table(
        "message_refs",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("platform_message_id", sa.String(length=ID), nullable=False),
        sa.Column("message_id", BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_message_refs_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_refs_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "platform_message_id", name=op.f("pk_message_refs")
        ),
    )
    op.create_index(
        op.f("ix_message_refs_message_id"), "message_refs", ["message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_message_refs_message_id"), table_name="message_refs")
    op.drop_table("message_refs")
    op.drop_index(op.f("ix_messages_created_at"), table_name="messages")
    op.drop_index(op.f("ix_messages_conversation_id_id"), table_name="messages")
    op.drop_table("messages")
    op.drop_index(op.f("ix_usage_ledger_platform_workspace_created_at"), table_name="usage_ledger")
    op.drop_table("usage_ledger")
    op.drop_index(op.f("ix_processed_events_created_at"), table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_table("channel_settings")
    op.drop_table("conversations")
