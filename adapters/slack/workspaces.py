"""Which workspace a request belongs to, and the bot, token and client that answer in it.

Every listener asks ``Workspaces.find(team_id)`` for the workspace Bolt authorized the request
for, and keys conversations, settings, usage, quotas and dedupe by that workspace's team id.
With ``SLACK_BOT_TOKEN`` there is exactly one (``OneWorkspace``: whatever team an event names,
the answer comes from the one bot); installed through OAuth, each team has its own
(``adapters.slack.installed.InstalledWorkspaces``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.routing import Identity
from adapters.slack.users import UserDirectory


@dataclass(frozen=True, slots=True)
class Workspace:
    """One workspace's bot: who it is, its token, a Web API client on that token, its people."""

    me: Identity
    token: str
    client: AsyncWebClient
    users: UserDirectory


class Workspaces(Protocol):
    """The workspaces Threadline answers in."""

    async def find(self, team_id: str | None) -> Workspace | None:
        """The workspace of a request's team; None when Threadline is not installed there."""
        ...

    def client(self, team_id: str) -> AsyncWebClient:
        """A client for ``team_id`` that is usable before ``find`` (a stored answer taken
        over after a restart); its calls fail as ``SinkError``s if the team is gone."""
        ...

    def forget(self, team_id: str) -> None:
        """Drop what is remembered of ``team_id`` (its tokens were revoked)."""
        ...


class OneWorkspace:
    """The single-token mode: one bot, whatever team a request names."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    async def find(self, team_id: str | None) -> Workspace | None:
        return self.workspace

    def client(self, team_id: str) -> AsyncWebClient:
        return self.workspace.client

    def forget(self, team_id: str) -> None:
        """Nothing to forget: the token comes from the environment."""
