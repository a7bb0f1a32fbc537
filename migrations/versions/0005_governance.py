"""Governance: the audit log of settings, access and quota changes, and the indexes flood
control (a user's answers in the last minute) and quotas (a user's or a channel's ledger rows
of the current day or month) read.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-12 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ID = 255


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("workspace", sa.String(length=ID), nullable=False),
        sa.Column("channel", sa.String(length=ID), nullable=False),
        sa.Column("actor", sa.String(length=ID), nullable=False),
        sa.Column("action", sa.String(length=ID), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=False),
        sa.Column("new_value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        op.f("ix_audit_log_platform_workspace_id"),
        "audit_log",
        ["platform", "workspace", "id"],
    )
    op.create_index(
        op.f("ix_messages_requester_created_at"), "messages", ["requester", "created_at"]
    )
    op.create_index(
        op.f("ix_usage_ledger_platform_workspace_user_id_created_at"),
        "usage_ledger",
        ["platform", "workspace", "user_id", "created_at"],
    )
    op.create_index(
        op.f("ix_usage_ledger_platform_workspace_channel_created_at"),
        "usage_ledger",
        ["platform", "workspace", "channel", "created_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_usage_ledger_platform_workspace_channel_created_at"), table_name="usage_ledger"
    )
    op.drop_index(
        op.f("ix_usage_ledger_platform_workspace_user_id_created_at"), table_name="usage_ledger"
    )
    op.drop_index(op.f("ix_messages_requester_created_at"), table_name="messages")
    op.drop_index(op.f("ix_audit_log_platform_workspace_id"), table_name="audit_log")
    op.drop_table("audit_log")
