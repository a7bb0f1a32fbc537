"""Button clicks: Stop while an answer streams, Regenerate and 👍/👎 feedback after.

Clicks are acknowledged first (Slack wants that within 3 seconds). The conversation comes from
the button's value (``channel|thread``) and the answer from the message the button is on, so
buttons keep working after a restart. Stop reaches its answer on whichever replica writes it.
Stop and Regenerate belong to the person who asked and to Threadline admins
(``ANSWER_CONTROLS=everyone`` opens them to all); anyone else gets a private note.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack.api import best_effort
from adapters.slack.blocks import (
    ACTION_FEEDBACK_DOWN,
    ACTION_FEEDBACK_UP,
    ACTION_REGENERATE,
    ACTION_STOP,
    parse_button_value,
)
from adapters.slack.replies import ReplyBuilder
from adapters.slack.sink import Target
from adapters.slack.targets import to_stored
from adapters.slack.tasks import TaskSet
from adapters.slack.workspaces import Workspace, Workspaces
from bot.engine import ConversationEngine, StopResult
from bot.errors import BotError, SettingError

logger = logging.getLogger(__name__)

NOTHING_TO_STOP = "That answer is not being written any more."
ONLY_ASKER = "Only the person who asked (<@{user}>) or an admin can stop this answer."
THANKS = "Thanks for the feedback!"
FEEDBACK_LOST = "I can't find that answer in my history any more."
FEEDBACK_RETRIES = (0.2, 0.5, 1.0, 0.0)

Ack = Callable[..., Awaitable[Any]]


class Admins(Protocol):
    async def allows(self, ws: Workspace, user_id: str) -> bool: ...


class ButtonActions:
    """Handles ``block_actions`` on our buttons."""

    def __init__(
        self,
        *,
        engine: ConversationEngine,
        workspaces: Workspaces,
        replies: ReplyBuilder,
        tasks: TaskSet,
        admins: Admins,
    ) -> None:
        self._engine = engine
        self._workspaces = workspaces
        self._replies = replies
        self._tasks = tasks
        self._admins = admins

    async def on_action(
        self, ack: Ack, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        ws = await self._workspaces.find(context.team_id)
        if ws is not None:
            self._tasks.spawn(self._act(ws, body, action), name="slack-action")

    async def _act(self, ws: Workspace, body: dict[str, Any], action: dict[str, Any]) -> None:
        try:
            channel, thread = parse_button_value(str(action.get("value") or ""))
        except ValueError as exc:
            logger.warning("ignoring a button click: %s", exc)
            return
        user = _user(body)
        target = Target(ws.me.workspace, channel, thread, user["id"], user["team"])
        action_id = str(action.get("action_id") or "")
        if action_id == ACTION_STOP:
            await self._stop(ws, target, _message_ts(body))
        elif action_id == ACTION_REGENERATE:
            await self._regenerate(ws, target, _message_ts(body))
        elif action_id in (ACTION_FEEDBACK_UP, ACTION_FEEDBACK_DOWN):
            value = 1 if action_id == ACTION_FEEDBACK_UP else -1
            await self._feedback(ws, target, _message_ts(body), value)

    async def _stop(self, ws: Workspace, target: Target, message_ts: str) -> None:
        can_admin = await self._admins.allows(ws, target.user)
        result = await self._engine.stop_answer(
            target.key, message_ts, user_id=target.user, can_admin=can_admin
        )
        if result is StopResult.NOT_RUNNING:
            await self.tell(ws, target, NOTHING_TO_STOP)
        elif result is StopResult.NOT_ALLOWED:
            asker = await self._engine.requester_of(target.key, message_ts)
            await self.tell(ws, target, ONLY_ASKER.format(user=asker))

    async def _regenerate(self, ws: Workspace, target: Target, message_ts: str) -> None:
        can_admin = await self._admins.allows(ws, target.user)
        reply = self._replies.build(target)
        try:
            await self._engine.regenerate(
                target.key,
                reply,
                user_id=target.user,
                message_id=message_ts or None,
                can_admin=can_admin,
                target=to_stored(target),
                is_direct=target.channel.startswith("D"),
            )
        except SettingError as exc:
            await self.tell(ws, target, exc.user_message)
        except BotError as exc:
            logger.error("regenerate in %s failed: %s", target.key, exc)
            await self.tell(ws, target, exc.user_message)

    async def _feedback(self, ws: Workspace, target: Target, message_ts: str, value: int) -> None:
        found = False
        for pause in FEEDBACK_RETRIES if message_ts else ():
            found = await self._engine.feedback(target.key, message_ts, value)
            if found:
                break
            await asyncio.sleep(pause)  # the answer may be shown a moment before it is stored
        await self.tell(ws, target, THANKS if found else FEEDBACK_LOST)

    async def tell(self, ws: Workspace, target: Target, text: str) -> None:
        """An ephemeral note to the user who clicked, in the answer's thread."""
        request = ws.client.chat_postEphemeral(
            channel=target.channel,
            user=target.user,
            text=text,
            thread_ts=target.thread or None,
        )
        await best_effort("chat.postEphemeral", request)


def _user(body: Mapping[str, Any]) -> dict[str, str]:
    user = body.get("user")
    user = user if isinstance(user, Mapping) else {}
    team = user.get("team_id") or _team(body)
    return {"id": str(user.get("id") or ""), "team": str(team or "")}


def _team(body: Mapping[str, Any]) -> str:
    team = body.get("team")
    return str(team.get("id") or "") if isinstance(team, Mapping) else ""


def _message_ts(body: Mapping[str, Any]) -> str:
    container = body.get("container")
    if isinstance(container, Mapping) and container.get("message_ts"):
        return str(container["message_ts"])
    message = body.get("message")
    return str(message.get("ts") or "") if isinstance(message, Mapping) else ""
