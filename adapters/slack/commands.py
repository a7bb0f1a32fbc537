"""The ``/threadline`` slash command: help, reset, settings, usage, access, audit, forget (shared
wording in the core) and export (the history file goes by DM, ``adapters.slack.governance``).

Answers are ephemeral. The command is acknowledged within Slack's 3 seconds: with the answer
itself when it is ready in time (the usual case), otherwise with an empty ack and the answer
follows through the command's ``response_url``.

Changing settings needs permission: the users in ``SLACK_ADMIN_USERS`` if it is set, otherwise
workspace admins and owners (``users.info``, scope ``users:read``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack.governance import send_export
from adapters.slack.sink import PLATFORM
from adapters.slack.tasks import TaskSet
from adapters.slack.workspaces import Workspace, Workspaces
from bot.commands import CommandContext, run_command
from bot.engine import ConversationEngine
from bot.errors import BotError
from bot.model import ConversationKey

logger = logging.getLogger(__name__)

ACK_BUDGET_SECONDS = 2.0
EPHEMERAL = "ephemeral"
FAILED = "Sorry, that command failed. Please try again."

Responder = Callable[..., Awaitable[Any]]


class AdminPolicy:
    """Who may change settings (``SLACK_ADMIN_USERS``, else the workspace's own admins)."""

    def __init__(self, admins: frozenset[str]) -> None:
        self._admins = admins

    async def allows(self, ws: Workspace, user_id: str) -> bool:
        if self._admins:
            return user_id in self._admins
        return await ws.users.is_admin(user_id)


class SlashCommands:
    """Runs slash commands through ``bot.commands.run_command``."""

    def __init__(
        self,
        *,
        engine: ConversationEngine,
        workspaces: Workspaces,
        admins: AdminPolicy,
        tasks: TaskSet,
    ) -> None:
        self._engine = engine
        self._workspaces = workspaces
        self._admins = admins
        self._tasks = tasks

    async def on_command(
        self,
        ack: Responder,
        respond: Responder | None,
        command: dict[str, Any],
        context: AsyncBoltContext,
    ) -> None:
        ws = await self._workspaces.find(context.team_id)
        if ws is None:
            await ack()
            return
        work = self._tasks.spawn(self.answer(ws, command), name="slack-command")
        done, _ = await asyncio.wait({work}, timeout=ACK_BUDGET_SECONDS)
        if done:
            await ack(text=_text_of(work), response_type=EPHEMERAL)
            return
        await ack()  # in HTTP mode Slack gets this ack only once the listener returns
        if respond is not None:
            self._tasks.spawn(_follow_up(work, respond), name="slack-command-follow-up")

    async def answer(self, ws: Workspace, command: Mapping[str, Any]) -> str:
        """The text to show for one command, in the workspace it came from."""
        text = str(command.get("text") or "").strip()
        user = str(command.get("user_id") or "")
        key = ConversationKey(PLATFORM, ws.me.workspace, str(command.get("channel_id") or ""))
        try:
            if text.lower().split()[:1] == ["export"]:
                return await send_export(self._engine, ws, user)
            can_admin = await self._admins.allows(ws, user) if _needs_admin(text) else False
            return await run_command(self._engine, CommandContext(key, user, can_admin), text)
        except BotError as exc:
            logger.error("command %r failed: %s", text[:40], exc)
            return exc.user_message


async def _follow_up(work: asyncio.Task[str], respond: Responder) -> None:
    """The late answer, through the command's ``response_url``."""
    await asyncio.wait({work})
    await respond(text=_text_of(work), response_type=EPHEMERAL, replace_original=False)


def _text_of(work: asyncio.Task[str]) -> str:
    if work.cancelled() or work.exception() is not None:
        return FAILED
    return work.result()


def _needs_admin(text: str) -> bool:
    """Commands whose answer depends on admin rights: settings changes, everyone's usage."""
    words = text.lower().split()
    if words[:1] in (["usage"], ["audit"], ["access"]):
        return True
    return len(words) >= 2 and words[0] == "settings" and words[1] == "set"
