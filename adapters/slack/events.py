"""Events API listeners: mentions, messages, edits, deletes and the assistant panel.

A question is acknowledged only once it is stored: the listener itself claims the delivery's
``event_id`` (so a retry, ``X-Slack-Retry-Num``, or a replay after a restart is dropped) and
``(channel, ts)`` (so the ``app_mention`` and the ``message.*`` event of one message make one
reply) and stores the question with its reserved answer, all in one transaction; Bolt runs
listeners before it responds (``process_before_response``), so when the database cannot take
the question the listener's ``StoreError`` becomes a 5xx in HTTP mode (Slack retries; the claim
was rolled back with it) and no ack in Socket Mode. The answer then streams in a background
task; if the process dies first, another process (or the next start) delivers it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from enum import Enum
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack.api import best_effort
from adapters.slack.config import SlackConfig
from adapters.slack.files import slack_attachments
from adapters.slack.governance import tell_refused
from adapters.slack.replies import ReplyBuilder
from adapters.slack.routing import (
    Event,
    Kind,
    author_of,
    bot_name,
    conversation_thread,
    in_thread,
    is_direct,
    is_own,
    kind_of,
    sent_at,
)
from adapters.slack.sink import PLATFORM, Target
from adapters.slack.targets import to_stored
from adapters.slack.tasks import TaskSet
from adapters.slack.text import clean_incoming, mentions, mentions_someone_else, title_from
from adapters.slack.workspaces import Workspace, Workspaces
from bot.engine import Accepted, ConversationEngine
from bot.errors import BotError, Refused, ReplyClosedError, StoreError
from bot.features import context_count
from bot.model import ConversationKey, IncomingMessage
from bot.reply.base import StreamedReply

logger = logging.getLogger(__name__)

ONLY_A_MENTION = "(You were mentioned without any other text.)"
FILES_ONLY = "(Files were sent without any other text.)"
PROMPTS_TITLE = "Try asking"
MAX_ASSISTANT_THREADS = 10_000


class Action(Enum):
    ANSWER = "answer"
    RECORD = "record"
    IGNORE = "ignore"


class SlackEvents:
    """Turns Events API payloads into engine calls, as the bot of the event's workspace."""

    def __init__(
        self,
        *,
        engine: ConversationEngine,
        workspaces: Workspaces,
        config: SlackConfig,
        replies: ReplyBuilder,
        tasks: TaskSet,
    ) -> None:
        self._engine = engine
        self._workspaces = workspaces
        self._config = config
        self._replies = replies
        self._tasks = tasks
        self._assistant_threads: set[tuple[str, str]] = set()

    # -- listeners (Bolt injects arguments by name) -------------------------------------
    # Each listener only starts tracked work, so shutdown can wait for every database call.

    async def on_mention(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        ws = await self._workspaces.find(context.team_id)
        if ws is not None:
            await self._on_message(ws, body, event, mentioned=True)

    async def on_message(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        ws = await self._workspaces.find(context.team_id)
        if ws is not None:
            await self._message_event(ws, body, event)

    async def on_assistant_thread_started(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        ws = await self._workspaces.find(context.team_id)
        if ws is not None:
            work = self._assistant_thread_started(ws, body, event)
            self._tasks.spawn(work, name="slack-assistant")

    async def on_other_event(self) -> None:
        """Events we subscribe to but don't act on are simply acknowledged."""

    # -- messages -----------------------------------------------------------------------

    async def _message_event(self, ws: Workspace, body: dict[str, Any], event: Event) -> None:
        kind = kind_of(event, ws.me)
        if kind is Kind.EDITED:
            self._tasks.spawn(self._edited(ws, event), name="slack-edit")
        elif kind is Kind.DELETED:
            self._tasks.spawn(self._deleted(ws, event), name="slack-delete")
        else:
            await self._on_message(ws, body, event, mentioned=False)

    async def _assistant_thread_started(
        self, ws: Workspace, body: dict[str, Any], event: Event
    ) -> None:
        thread = event.get("assistant_thread")
        if not isinstance(thread, Mapping):
            return
        channel, ts = str(thread.get("channel_id") or ""), str(thread.get("thread_ts") or "")
        if not channel or not ts or not await self._claim_delivery(body):
            return
        self._remember_assistant_thread(channel, ts)
        prompts = [{"title": p, "message": p} for p in self._config.suggested_prompts]
        request = ws.client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=ts, title=PROMPTS_TITLE, prompts=prompts
        )
        await best_effort("assistant.threads.setSuggestedPrompts", request)

    async def _on_message(
        self, ws: Workspace, body: dict[str, Any], event: Event, *, mentioned: bool
    ) -> None:
        kind = kind_of(event, ws.me)
        wanted = kind is Kind.USER or (kind is Kind.BOT and self._config.answer_bots)
        if not wanted or not event.get("channel") or not event.get("ts"):
            return
        direct = is_direct(event)
        target = self._target(ws, event, direct)
        text = str(event.get("text") or "")
        if not mentioned and not direct and not in_thread(event):  # message.channels, once
            await self._seen(ws, target, event, kind, text)
        action = await self._decide(ws, target, event, direct, mentioned, text)
        if action is Action.IGNORE:
            return
        message = await self._incoming(ws, target, event, kind, text)
        claims = self._claims(body, event)
        if action is Action.RECORD:
            await self._engine.record(message, claims=claims)
            return
        first = target.assistant and not await self._engine.is_participating(target.key)
        try:
            accepted = await self._engine.accept(message, target=to_stored(target), claims=claims)
        except Refused as exc:  # access, flood control or a quota: a private notice, nothing stored
            await tell_refused(self._engine, ws, target, event, exc.user_message)
            return
        if accepted is None:
            return
        if first:  # a new assistant-panel thread gets its title from the first question
            self._tasks.spawn(self._set_title(ws, target, message.text), name="slack-title")
        self._tasks.spawn(self._answer(target, accepted), name=f"slack-answer-{target.key}")

    async def _seen(
        self, ws: Workspace, target: Target, event: Event, kind: Kind, text: str
    ) -> None:
        """A top-level channel message is kept as channel context where the channel has
        ``channel_context`` on (checked first: no name lookup elsewhere)."""
        channel = target.key.channel_key()
        try:
            wanted = context_count(await self._engine.channel_overrides(channel))
        except StoreError:
            return
        if wanted:
            message = await self._incoming(ws, target, event, kind, text)
            await self._engine.seen(replace(message, key=channel, attachments=()))

    async def _decide(
        self, ws: Workspace, target: Target, event: Event, direct: bool, mentioned: bool, text: str
    ) -> Action:
        me = ws.me
        if direct or mentioned or mentions(text, me.user_id):
            return Action.ANSWER
        if not in_thread(event) or not await self._engine.is_participating(target.key):
            return Action.IGNORE
        if self._config.thread_followups and not mentions_someone_else(text, me.user_id):
            return Action.ANSWER
        return Action.RECORD

    def _target(self, ws: Workspace, event: Event, direct: bool) -> Target:
        channel = str(event["channel"])
        thread = conversation_thread(event, direct)
        assistant = (
            direct and bool(thread) and self._is_assistant_thread(ws, channel, thread, event)
        )
        return Target(
            workspace=ws.me.workspace,
            channel=channel,
            thread=thread,
            user=str(event.get("user") or ""),
            user_team=str(event.get("user_team") or event.get("team") or ""),
            assistant=assistant,
        )

    async def _incoming(
        self, ws: Workspace, target: Target, event: Event, kind: Kind, text: str
    ) -> IncomingMessage:
        author = author_of(event)
        name = bot_name(event) if kind is Kind.BOT else await ws.users.name(author, event)
        ts = str(event["ts"])
        return IncomingMessage(
            key=target.key,
            message_id=ts,
            author_id=author,
            author_name=name,
            text=clean_incoming(text, ws.me.user_id, ws.me.name)
            or (FILES_ONLY if event.get("files") else ONLY_A_MENTION),
            created_at=sent_at(ts),
            is_direct=target.channel.startswith("D"),
            attachments=slack_attachments(event, ws.client.token or ""),
        )

    async def _answer(self, target: Target, accepted: Accepted) -> None:
        reply = self._replies.build(target)
        try:
            await self._engine.answer(accepted, reply)
        except BotError as exc:
            logger.error("answer in %s failed: %s", target.key, exc)
            await _fail_quietly(reply, exc.user_message)

    async def _set_title(self, ws: Workspace, target: Target, text: str) -> None:
        request = ws.client.assistant_threads_setTitle(
            channel_id=target.channel, thread_ts=target.thread, title=title_from(text)
        )
        await best_effort("assistant.threads.setTitle", request)

    # -- claims -------------------------------------------------------------------------

    async def _claim_delivery(self, body: Mapping[str, Any]) -> bool:
        event_id = body.get("event_id")
        return not event_id or await self._engine.claim_event(PLATFORM, str(event_id))

    def _claims(self, body: Mapping[str, Any], event: Event) -> list[tuple[str, str]]:
        """The delivery and the message, claimed in the transaction that stores it."""
        claims = [(PLATFORM, f"message:{event['channel']}:{event['ts']}")]
        event_id = body.get("event_id")
        return [(PLATFORM, str(event_id)), *claims] if event_id else claims

    # -- history upkeep -----------------------------------------------------------------

    async def _edited(self, ws: Workspace, event: Event) -> None:
        message, previous = event.get("message"), event.get("previous_message") or {}
        if not isinstance(message, Mapping) or not event.get("channel"):
            return
        if is_own(message, ws.me) or message.get("bot_id") or not message.get("ts"):
            return
        text = str(message.get("text") or "")
        if isinstance(previous, Mapping) and text == previous.get("text"):
            return
        key = _key(ws, event, message)
        cleaned = clean_incoming(text, ws.me.user_id, ws.me.name)
        await self._engine.message_edited(key, str(message["ts"]), cleaned)

    async def _deleted(self, ws: Workspace, event: Event) -> None:
        previous = event.get("previous_message") or {}
        if not isinstance(previous, Mapping) or not event.get("channel"):
            return
        ts = event.get("deleted_ts") or previous.get("ts")
        if not ts:
            return
        if is_own(previous, ws.me) or previous.get("bot_id"):
            return
        key = _key(ws, event, {"ts": ts, "thread_ts": previous.get("thread_ts")})
        await self._engine.message_deleted(key, str(ts))

    # -- assistant threads --------------------------------------------------------------

    def _remember_assistant_thread(self, channel: str, thread: str) -> None:
        if len(self._assistant_threads) >= MAX_ASSISTANT_THREADS:
            self._assistant_threads.pop()
        self._assistant_threads.add((channel, thread))

    def _is_assistant_thread(self, ws: Workspace, channel: str, thread: str, event: Event) -> bool:
        known = (channel, thread) in self._assistant_threads
        bot_user = ws.me.user_id
        return known or (bool(bot_user) and event.get("parent_user_id") == bot_user)


def _key(ws: Workspace, event: Event, message: Event) -> ConversationKey:
    thread = conversation_thread(message, is_direct(event))
    return ConversationKey(PLATFORM, ws.me.workspace, str(event["channel"]), thread)


async def _fail_quietly(reply: StreamedReply, notice: str) -> None:
    try:
        await reply.fail(notice)
    except (BotError, ReplyClosedError) as exc:
        logger.debug("could not show the failure: %s", exc)
