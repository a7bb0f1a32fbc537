"""Channel context: the messages seen in channels, kept (the newest 200 per channel) only as
context for a later mention there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-19 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = 255


def upgrade() -> None:
    op.create_table(
        "channel_messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=ID), nullable=False),
        sa.Column("channel", sa.String(length=ID), nullable=False),
        sa.Column("message_id", sa.String(length=ID), nullable=False),
        sa.Column("author_id", sa.String(length=ID), nullable=False),
        sa.Column("author_name", sa.String(length=ID), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_messages")),
    )
    op.create_index(
        op.f("ix_channel_messages_platform_workspace_channel_created_at"),
        "channel_messages",
        ["platform", "workspace", "channel", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_channel_messages_platform_workspace_channel_created_at"),
        table_name="channel_messages",
    )
    op.drop_table("channel_messages")
