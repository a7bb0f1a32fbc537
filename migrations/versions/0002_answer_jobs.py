"""Durable answers: the answer_jobs table (queued and streaming answers with their lease) and
who asked for each answer (messages.requester).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = 255


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("requester", sa.String(length=ID), nullable=False, server_default="")
        )
    op.create_table(
        "answer_jobs",
        sa.Column("message_id", BIG_ID, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("lease_until", _utc(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("overrides", sa.JSON(), nullable=False),
        sa.Column("requester", sa.String(length=ID), nullable=False),
        sa.Column("supersedes", sa.BigInteger(), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_answer_jobs_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_answer_jobs_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_answer_jobs")),
    )
    op.create_index(op.f("ix_answer_jobs_lease_until"), "answer_jobs", ["lease_until"])
    op.create_index(
        op.f("ix_answer_jobs_conversation_id_message_id"),
        "answer_jobs",
        ["conversation_id", "message_id"],
    )
    # Answers left "streaming" by a version without durable answers can't be resumed: they
    # have no target. Mark them failed so nothing shows them as still being written.
    op.execute("UPDATE messages SET status = 'failed' WHERE status = 'streaming'")


def downgrade() -> None:
    op.drop_index(op.f("ix_answer_jobs_conversation_id_message_id"), table_name="answer_jobs")
    op.drop_index(op.f("ix_answer_jobs_lease_until"), table_name="answer_jobs")
    op.drop_table("answer_jobs")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("requester")
