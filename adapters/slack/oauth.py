"""Installing into several workspaces: Bolt's OAuth flow on slack-sdk's SQLAlchemy stores.

Decisions:

- Installations and OAuth states live in Threadline's own database (``DATABASE_URL``), in the
  tables ``slack_installations``, ``slack_bots`` and ``slack_oauth_states`` that migration
  ``0003`` creates; slack-sdk's *async* SQLAlchemy stores read and write them on their own
  ``AsyncEngine`` (the same URL and engine setup as the core's store), so no worker thread and
  no sync driver is needed.
- Bolt serves ``GET /slack/install`` (a page with the "Add to Slack" link, state in a cookie)
  and ``GET /slack/oauth_redirect`` (state checked once, ``oauth.v2.access``, installation
  saved); the bot scopes are the manifest's.
- Every request is authorized by ``WorkspaceAuthorize`` from ``Workspaces``: the workspace's
  bot token, bot user and bot id come from its installation (no ``auth.test`` per event).
- ``tokens_revoked`` (bot tokens) and ``app_uninstalled`` delete the workspace's installation
  and bot rows through the store's ``delete_installation`` / ``delete_bot``, and the workspace
  is forgotten at once; a revoked user token only deletes that user's installation.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore

from adapters.slack.config import SlackConfig
from adapters.slack.manifest import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH
from adapters.slack.workspaces import Workspaces
from bot.store.db import make_engine

logger = logging.getLogger(__name__)

STATE_SECONDS = 600


@dataclass(frozen=True, slots=True)
class Stores:
    """The installation and OAuth-state stores on one engine."""

    installations: AsyncSQLAlchemyInstallationStore
    states: AsyncSQLAlchemyOAuthStateStore


@contextlib.asynccontextmanager
async def open_stores(database_url: str, client_id: str) -> AsyncIterator[Stores]:
    """slack-sdk's async SQLAlchemy stores on ``database_url``; the engine is disposed after."""
    engine = make_engine(database_url)
    try:
        yield Stores(
            AsyncSQLAlchemyInstallationStore(
                client_id=client_id, engine=engine, logger=logging.getLogger(__name__)
            ),
            AsyncSQLAlchemyOAuthStateStore(
                expiration_seconds=STATE_SECONDS, engine=engine, logger=logging.getLogger(__name__)
            ),
        )
    finally:
        await engine.dispose()


def oauth_settings(config: SlackConfig, stores: Stores) -> AsyncOAuthSettings:
    """Bolt's OAuth flow for Threadline: the manifest's bot scopes, no user scopes."""
    return AsyncOAuthSettings(
        client_id=config.client_id,
        client_secret=config.client_secret.get(),
        scopes=sorted(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=config.redirect_uri or None,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=stores.installations,
        installation_store_bot_only=True,
        state_store=stores.states,
        state_expiration_seconds=STATE_SECONDS,
        logger=logging.getLogger(__name__),
    )


class WorkspaceAuthorize(AsyncAuthorize):
    """Bolt's ``authorize``: the bot of the request's workspace, or None if not installed."""

    def __init__(self, workspaces: Workspaces) -> None:  # Bolt's base __init__ does nothing
        self._workspaces = workspaces

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        workspace = await self._workspaces.find(team_id)
        if workspace is None:
            return None
        me = workspace.me
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=me.workspace,
            bot_user_id=me.user_id,
            bot_id=me.bot_id,
            bot_token=workspace.token,
            user_id=user_id,
        )


class Revocations:
    """``tokens_revoked`` and ``app_uninstalled``: the workspace's tokens are deleted."""

    def __init__(self, store: AsyncSQLAlchemyInstallationStore, workspaces: Workspaces) -> None:
        self._store = store
        self._workspaces = workspaces

    async def on_tokens_revoked(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        tokens = event.get("tokens")
        tokens = tokens if isinstance(tokens, Mapping) else {}
        enterprise, team = context.enterprise_id, context.team_id
        for user in tokens.get("oauth") or ():
            await self._store.async_delete_installation(
                enterprise_id=enterprise, team_id=team, user_id=str(user)
            )
        if tokens.get("bot"):
            await self._delete_workspace(enterprise, team, "its bot token was revoked")

    async def on_app_uninstalled(self, context: AsyncBoltContext) -> None:
        await self._delete_workspace(context.enterprise_id, context.team_id, "app uninstalled")

    async def _delete_workspace(self, enterprise: str | None, team: str | None, why: str) -> None:
        await self._store.async_delete_bot(enterprise_id=enterprise, team_id=team)
        await self._store.async_delete_installation(enterprise_id=enterprise, team_id=team)
        if team:
            self._workspaces.forget(team)
        logger.info("Slack workspace %s removed (%s)", team, why)
