"""Slack installations for the multi-workspace OAuth install: the tables slack-sdk's SQLAlchemy
installation store (``slack_installations``, ``slack_bots``) and OAuth state store
(``slack_oauth_states``) read and write, column for column as slack-sdk defines them
(``SQLAlchemyInstallationStore.build_*_table``,
``SQLAlchemyOAuthStateStore.build_oauth_states_table``; ``alembic check`` compares them with
those definitions, see ``migrations/slack_tables.py``). Written out here so that migrating
needs no Slack packages. The timestamps are naive UTC, as slack-sdk stores them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 32
NAME = 200
SCOPES = 1000


def _bot_columns() -> list[sa.Column[object]]:
    """The columns ``slack_installations`` and ``slack_bots`` share, in slack-sdk's order."""
    return [
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=ID), nullable=False),
        sa.Column("app_id", sa.String(length=ID), nullable=False),
        sa.Column("enterprise_id", sa.String(length=ID), nullable=True),
        sa.Column("enterprise_name", sa.String(length=NAME), nullable=True),
    ]


def _bot_token_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("bot_token", sa.String(length=NAME), nullable=True),
        sa.Column("bot_id", sa.String(length=ID), nullable=True),
        sa.Column("bot_user_id", sa.String(length=ID), nullable=True),
        sa.Column("bot_scopes", sa.String(length=SCOPES), nullable=True),
        sa.Column("bot_refresh_token", sa.String(length=NAME), nullable=True),
        sa.Column("bot_token_expires_at", sa.DateTime(), nullable=True),
    ]


def _team_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("team_id", sa.String(length=ID), nullable=True),
        sa.Column("team_name", sa.String(length=NAME), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "slack_installations",
        *_bot_columns(),
        sa.Column("enterprise_url", sa.String(length=NAME), nullable=True),
        *_team_columns(),
        *_bot_token_columns(),
        sa.Column("user_id", sa.String(length=ID), nullable=False),
        sa.Column("user_token", sa.String(length=NAME), nullable=True),
        sa.Column("user_scopes", sa.String(length=SCOPES), nullable=True),
        sa.Column("user_refresh_token", sa.String(length=NAME), nullable=True),
        sa.Column("user_token_expires_at", sa.DateTime(), nullable=True),
        sa.Column("incoming_webhook_url", sa.String(length=NAME), nullable=True),
        sa.Column("incoming_webhook_channel", sa.String(length=NAME), nullable=True),
        sa.Column("incoming_webhook_channel_id", sa.String(length=NAME), nullable=True),
        sa.Column("incoming_webhook_configuration_url", sa.String(length=NAME), nullable=True),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("token_type", sa.String(length=ID), nullable=True),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_installations")),
    )
    op.create_index(
        "slack_installations_idx",
        "slack_installations",
        ["client_id", "enterprise_id", "team_id", "user_id", "installed_at"],
    )
    op.create_table(
        "slack_bots",
        *_bot_columns(),
        *_team_columns(),
        *_bot_token_columns(),
        sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_bots")),
    )
    op.create_index(
        "slack_bots_idx",
        "slack_bots",
        ["client_id", "enterprise_id", "team_id", "installed_at"],
    )
    op.create_table(
        "slack_oauth_states",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("state", sa.String(length=NAME), nullable=False),
        sa.Column("expire_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slack_oauth_states")),
    )


def downgrade() -> None:
    op.drop_table("slack_oauth_states")
    op.drop_index("slack_bots_idx", table_name="slack_bots")
    op.drop_table("slack_bots")
    op.drop_index("slack_installations_idx", table_name="slack_installations")
    op.drop_table("slack_installations")
