"""Process-wide state and estimated usage: the ``app_state`` key-value table (things every
replica must agree on, such as the hash of the Discord commands last registered) and
``usage_ledger.estimated`` (token counts Threadline estimated because the endpoint reported
none).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = 255


def upgrade() -> None:
    op.create_table(
        "app_state",
        sa.Column("key", sa.String(length=KEY), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_state")),
    )
    with op.batch_alter_table("usage_ledger") as batch:
        batch.add_column(
            sa.Column("estimated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_ledger") as batch:
        batch.drop_column("estimated")
    op.drop_table("app_state")
