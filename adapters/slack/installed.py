"""The workspaces Threadline was installed into through OAuth, read from slack-sdk's store.

Decisions:

- A workspace is known by its team id alone: that is what an event names and what a stored
  answer carries, so the latest bot row with a token for the team is its bot (org-wide
  installs are not offered: ``org_deploy_enabled`` is off in the manifest).
- A bot is remembered for ``REMEMBER_SECONDS``: events cost no query, and a token revoked
  through another replica stops being used here within that time. The replica that receives
  ``tokens_revoked`` / ``app_uninstalled`` forgets at once.
- Each workspace has one ``InstalledClient`` (on the shared aiohttp session) that takes the
  team's current token before every call, so a reply rebuilt before its workspace was looked
  up still posts with the right token, and a removed installation fails the call instead of
  using a stale token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import sqlalchemy as sa
from slack_sdk.errors import SlackClientError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store.sqlalchemy import (
    AsyncSQLAlchemyInstallationStore,
    SQLAlchemyInstallationStore,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.manifest import BOT_NAME
from adapters.slack.routing import Identity
from adapters.slack.tasks import TaskSet
from adapters.slack.users import UserDirectory
from adapters.slack.workspaces import Workspace

REMEMBER_SECONDS = 60.0

Tokens = Callable[[], Awaitable[str]]


class NotInstalledError(SlackClientError):
    """Threadline has no token for the workspace (never installed, or uninstalled)."""


class InstalledClient(AsyncWebClient):
    """A Web API client that takes its workspace's current bot token before each call."""

    def __init__(self, tokens: Tokens, **options: Any) -> None:
        super().__init__(**options)
        self._tokens = tokens

    async def api_call(self, api_method: str, **request: Any) -> AsyncSlackResponse:
        self.token = await self._tokens()
        return await super().api_call(api_method, **request)


class InstalledWorkspaces:
    """``Workspaces`` over the installation store (see the module docstring)."""

    def __init__(
        self,
        store: AsyncSQLAlchemyInstallationStore,
        client_options: dict[str, Any],
        tasks: TaskSet,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._options = client_options
        self._tasks = tasks
        self._clock = clock
        self._bots: dict[str, tuple[Bot, float]] = {}
        self._clients: dict[str, InstalledClient] = {}
        self._workspaces: dict[str, Workspace] = {}

    async def find(self, team_id: str | None) -> Workspace | None:
        bot = await self._bot(team_id) if team_id else None
        if bot is None or not team_id:
            return None
        me = identity_of(bot)
        known = self._workspaces.get(team_id)
        if known is not None and known.me == me and known.token == bot.bot_token:
            return known
        client = self.client(team_id)
        users = known.users if known is not None else UserDirectory(client, self._tasks)
        workspace = Workspace(me=me, token=bot.bot_token, client=client, users=users)
        self._workspaces[team_id] = workspace
        return workspace

    def client(self, team_id: str) -> AsyncWebClient:
        client = self._clients.get(team_id)
        if client is None:
            client = InstalledClient(lambda: self.token(team_id), **self._options)
            self._clients[team_id] = client
        return client

    def forget(self, team_id: str) -> None:
        self._bots.pop(team_id, None)
        self._workspaces.pop(team_id, None)

    async def token(self, team_id: str) -> str:
        """The team's bot token; ``NotInstalledError`` when there is none."""
        bot = await self._bot(team_id)
        if bot is None:
            raise NotInstalledError(f"Threadline is not installed in workspace {team_id}")
        return bot.bot_token

    async def _bot(self, team_id: str) -> Bot | None:
        remembered = self._bots.get(team_id)
        if remembered is not None and self._clock() - remembered[1] < REMEMBER_SECONDS:
            return remembered[0]
        bot = await latest_bot(self._store, team_id)
        if bot is None:
            self._bots.pop(team_id, None)
        else:
            self._bots[team_id] = (bot, self._clock())
        return bot


async def latest_bot(store: AsyncSQLAlchemyInstallationStore, team_id: str) -> Bot | None:
    """The newest bot with a token installed in ``team_id`` (by this app's client id)."""
    c = store.bots.c
    query = (
        sa.select(store.bots)
        .where(c.client_id == store.client_id, c.team_id == team_id, c.bot_token.is_not(None))
        .order_by(c.installed_at.desc())
        .limit(1)
    )
    async with store.engine.connect() as conn:
        row = (await conn.execute(query)).mappings().first()
    return None if row is None else SQLAlchemyInstallationStore.build_bot_entity(row)


def identity_of(bot: Bot) -> Identity:
    """The bot of one installation (its name is the manifest's: Slack's answer to the install
    does not include it)."""
    return Identity(
        workspace=str(bot.team_id or ""),
        user_id=str(bot.bot_user_id or ""),
        bot_id=str(bot.bot_id or ""),
        name=BOT_NAME,
        app_id=str(bot.app_id or ""),
    )


def client_options(session: aiohttp.ClientSession, base_url: str, timeout: int) -> dict[str, Any]:
    """The options ``adapters.slack.api.build_client`` gives its clients (no retry handlers:
    a 429 is the scheduler's to wait out, never a sleep inside the call)."""
    return {
        "base_url": base_url,
        "timeout": timeout,
        "session": session,
        "retry_handlers": [],
        "logger": logging.getLogger("slack_sdk.web"),
    }
