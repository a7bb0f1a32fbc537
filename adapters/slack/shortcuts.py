"""Message shortcuts: "Summarize thread" and "Translate message" (``message_action``).

A click is acknowledged at once; the result is then an ordinary accepted question answered
through the engine (stored, owed, streamed; ``bot.shortcuts``). Where it goes is the channel's
``shortcut_replies``: ``private`` (the default) posts it in the user's DM with Threadline (an
ephemeral message cannot be streamed or edited), ``thread`` in the clicked message's thread.
The translation's language is ``translate_to``, else the user's Slack locale (``users.info``
with ``include_locale``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_sdk.errors import SlackClientError

from adapters.slack.api import call
from adapters.slack.manifest import BOT_NAME, SHORTCUT_SUMMARIZE, SHORTCUT_TRANSLATE
from adapters.slack.replies import ReplyBuilder
from adapters.slack.sink import PLATFORM, Target
from adapters.slack.targets import to_stored
from adapters.slack.tasks import TaskSet
from adapters.slack.workspaces import Workspace, Workspaces
from bot import features, shortcuts
from bot.branches import SHORTCUT
from bot.engine import ConversationEngine
from bot.errors import BotError, SinkError
from bot.model import ConversationKey, IncomingMessage

logger = logging.getLogger(__name__)

Ack = Callable[..., Awaitable[Any]]
Payload = Mapping[str, Any]


class MessageShortcuts:
    """Handles the ``message_action`` payloads of Threadline's message shortcuts."""

    def __init__(
        self,
        *,
        engine: ConversationEngine,
        workspaces: Workspaces,
        replies: ReplyBuilder,
        tasks: TaskSet,
    ) -> None:
        self._engine = engine
        self._workspaces = workspaces
        self._replies = replies
        self._tasks = tasks

    async def on_shortcut(self, ack: Ack, body: dict[str, Any]) -> None:
        await ack()
        team = str((body.get("team") or {}).get("id") or "")
        ws = await self._workspaces.find(team)
        if ws is not None:
            self._tasks.spawn(self._run(ws, body), name="slack-shortcut")

    async def _run(self, ws: Workspace, body: Payload) -> None:
        try:
            await self._shortcut(ws, body)
        except (BotError, SlackClientError, KeyError, TypeError) as exc:
            logger.warning("shortcut %s not answered: %s", body.get("callback_id"), exc)

    async def _shortcut(self, ws: Workspace, body: Payload) -> None:
        user = str(body["user"]["id"])
        channel = str(body["channel"]["id"])
        message: Payload = body["message"]
        thread = str(message.get("thread_ts") or message["ts"])
        channel_key = ConversationKey(PLATFORM, ws.me.workspace, channel, "")
        overrides = await self._engine.channel_overrides(channel_key)
        if body.get("callback_id") == SHORTCUT_TRANSLATE:
            locale = await _locale(ws, user)
            language = shortcuts.language(features.translate_to(overrides), locale)
            text = shortcuts.translate_question(str(message.get("text") or ""), language)
        else:
            text = await self._summary_question(channel_key, thread, message)
        if features.replies_in_thread(overrides):
            target = Target(ws.me.workspace, channel, thread, user=user)
        else:
            target = Target(ws.me.workspace, await _dm(ws, user), "", user=user)
        name = await ws.users.name(user, {})
        asked = IncomingMessage(target.key, "", user, name, text, is_direct=not target.thread)
        overrides = {SHORTCUT: True}
        accepted = await self._engine.accept(asked, target=to_stored(target), overrides=overrides)
        if accepted is not None:
            await self._engine.answer(accepted, self._replies.build(target))

    async def _summary_question(
        self, channel_key: ConversationKey, thread: str, message: Payload
    ) -> str:
        """The thread as Threadline holds it (its stored conversation), else the message."""
        key = ConversationKey(PLATFORM, channel_key.workspace, channel_key.channel, thread)
        stored = await self._engine.export(key)
        lines = shortcuts.history_lines(stored, BOT_NAME)
        if not lines:
            author = str(message.get("user") or message.get("username") or "someone")
            lines = [shortcuts.line(author, str(message.get("text") or ""))]
        return shortcuts.summarize_question(lines)


async def _locale(ws: Workspace, user: str) -> str:
    """The user's Slack locale ("" when Slack won't say)."""
    try:
        data = await call("users.info", ws.client.users_info(user=user, include_locale=True))
    except SinkError as exc:
        logger.info("no locale for %s: %s", user, exc)
        return ""
    return str((data.get("user") or {}).get("locale") or "")


async def _dm(ws: Workspace, user: str) -> str:
    """The channel id of the user's DM with Threadline."""
    opened = await call("conversations.open", ws.client.conversations_open(users=user))
    return str(opened["channel"]["id"])


__all__ = ["SHORTCUT_SUMMARIZE", "SHORTCUT_TRANSLATE", "MessageShortcuts"]
