"""Where an answer goes, and the ``MessageSink`` that posts and edits it with chat.update.

Limits: a message holds at most ``MAX_CHARS`` characters (well under the ~4,000 characters a
``text`` update tolerates and the 12,000 of a markdown block), longer answers continue in new
messages in the same thread. ``chat.update`` is Tier 3 **per workspace**, so every stream in a
workspace shares one budget (``rate_scope``) of ``EDITS_PER_MINUTE``; ``chat.postMessage`` is
about 1 per second **per channel** (``post_scope``, ``POSTS_PER_MINUTE``). Under load the reply
shows answers whole (``whole_under_load``): one ``chat.postMessage`` per message and no
``chat.update``, which is what lets a workspace finish far more answers a minute than Tier 3
allows edits (README "Progressive replies").
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.api import call
from adapters.slack.blocks import (
    EMPTY_TEXT,
    THINKING_CHARS,
    THINKING_LABEL,
    THINKING_MARK,
    Block,
    actions_for,
    answer_blocks,
    button_value,
    thinking_blocks,
)
from adapters.slack.text import MentionPolicy, sanitize
from bot.errors import SinkError
from bot.model import ConversationKey
from bot.reply.base import SinkLimits, grapheme_tail
from bot.reply.units import TextUnit

logger = logging.getLogger(__name__)

PLATFORM = "slack"
BLOCKS_REJECTED = frozenset({"invalid_blocks", "invalid_blocks_format"})
LAST_LEVEL = 2
MAX_CHARS = 3500
EDITS_PER_MINUTE = 40.0
EDIT_BURST = 8
MIN_EDIT_INTERVAL = 1.2
POSTS_PER_MINUTE = 60.0
POST_BURST = 3


@dataclass(frozen=True, slots=True)
class Target:
    """One answer's destination: a channel, and the thread in it ("" = top level of a DM)."""

    workspace: str
    channel: str
    thread: str
    user: str = ""
    user_team: str = ""
    assistant: bool = False

    @property
    def key(self) -> ConversationKey:
        return ConversationKey(PLATFORM, self.workspace, self.channel, self.thread)

    @property
    def value(self) -> str:
        return button_value(self.channel, self.thread)


def sink_limits(workspace: str, channel: str = "") -> SinkLimits:
    """The budgets of one answer: ``chat.update`` shared by the whole workspace, and
    ``chat.postMessage`` shared by the channel (none planned without a channel)."""
    return SinkLimits(
        max_chars=MAX_CHARS,
        rate_scope=f"slack:{workspace}:chat.update",
        edits_per_minute=EDITS_PER_MINUTE,
        burst=EDIT_BURST,
        min_edit_interval=MIN_EDIT_INTERVAL,
        # Slack names no unit for its 12,000 "characters"; UTF-16 units bound code points and
        # (times 3) UTF-8 bytes, so MAX_CHARS holds in any of them (bot.reply.units).
        unit=TextUnit.UTF16,
        post_scope=f"slack:{workspace}:chat.postMessage:{channel}" if channel else "",
        posts_per_minute=POSTS_PER_MINUTE,
        post_burst=POST_BURST,
        whole_under_load=bool(channel),
    )


@dataclass(slots=True)
class BlockSupport:
    """How much Block Kit this Slack accepts, learned from ``invalid_blocks`` answers.

    Level 0: a ``markdown`` block plus the buttons; 1: ``text`` (mrkdwn) plus the buttons;
    2: ``text`` only. A refusal moves every later message of the process one level down.
    """

    level: int = 0

    def blocks(
        self, text: str, *, final: bool, last: bool, value: str, level: int
    ) -> list[Block] | None:
        if level == 0:
            return answer_blocks(text, final=final, value=value, last=last)
        actions = actions_for(final=final, last=last, value=value)
        if level == 1 and actions is not None:
            return [actions]
        return None


class SlackSink:
    """Posts with chat.postMessage and edits with chat.update; never sleeps on a 429.

    Buttons by role: Stop while a message streams; every finished message of an answer (a
    finished part as well as the last) carries Regenerate and feedback, so a long answer can be
    regenerated from any of its messages (``last`` does not change them on Slack).

    Every text it sends is sanitised (``adapters.slack.text.sanitize``): user mentions notify
    only the person who asked (``target.user``), or everyone mentioned with
    ``allow_mentions`` (``SLACK_ALLOW_MENTIONS``).

    Reasoning (``thinking``) is shown as a context block: the placeholder text it returns opens
    with ``THINKING_MARK``, which ``post``/``edit`` recognise; ``sanitize`` strips that mark
    from answers, so only the sink's own thinking text is shown that way.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        target: Target,
        support: BlockSupport | None = None,
        *,
        allow_mentions: bool = False,
    ) -> None:
        self._client = client
        self._target = target
        self._limits = sink_limits(target.workspace, target.channel)
        self._support = support or BlockSupport()
        self._policy = MentionPolicy(allow_mentions, target.user)

    @property
    def limits(self) -> SinkLimits:
        return self._limits

    @property
    def target(self) -> Target:
        return self._target

    def sanitize(self, text: str) -> str:
        return sanitize(text, self._policy).replace(THINKING_MARK, "")

    def thinking(self, tail: str) -> str:
        """The reasoning placeholder: ``THINKING_MARK`` then the tail on one line (rendered,
        sanitised and escaped, by ``thinking_blocks`` when it is sent)."""
        return THINKING_MARK + " ".join(grapheme_tail(tail, THINKING_CHARS).split())

    async def post(self, text: str, *, final: bool, last: bool = False) -> str:
        def request(level: int) -> Awaitable[AsyncSlackResponse]:
            shown, blocks = self._content(text, final=final, level=level)
            return self._client.chat_postMessage(
                channel=self._target.channel,
                thread_ts=self._target.thread or None,
                text=shown,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
            )

        data = await self._call("chat.postMessage", request)
        ts = data.get("ts")
        if not isinstance(ts, str) or not ts:
            raise SinkError("chat.postMessage: no ts in the response")
        return ts

    async def edit(self, message_id: str, text: str, *, final: bool, last: bool = False) -> None:
        def request(level: int) -> Awaitable[AsyncSlackResponse]:
            shown, blocks = self._content(text, final=final, level=level)
            return self._client.chat_update(
                channel=self._target.channel, ts=message_id, text=shown, blocks=blocks
            )

        await self._call("chat.update", request)

    def _content(self, text: str, *, final: bool, level: int) -> tuple[str, list[Block] | None]:
        """``text`` and ``blocks`` of a message at a Block Kit level: the reasoning placeholder
        as a context block (the label alone where blocks are refused), else the sanitised
        answer."""
        value = self._target.value
        if text.startswith(THINKING_MARK):
            reasoning = text[len(THINKING_MARK) :]
            blocks = thinking_blocks(reasoning, final=final, value=value)
            return THINKING_LABEL, blocks if level < LAST_LEVEL else None
        text = sanitize(text, self._policy)
        answer = self._support.blocks(text, final=final, last=final, value=value, level=level)
        return text or EMPTY_TEXT, answer

    async def _call(
        self, method: str, request: Callable[[int], Awaitable[AsyncSlackResponse]]
    ) -> dict[str, Any]:
        level = self._support.level
        while True:
            try:
                return await call(method, request(level))
            except SinkError as exc:
                if level >= LAST_LEVEL or exc.code not in BLOCKS_REJECTED:
                    raise
            level = max(level + 1, self._support.level)
            self._support.level = level
            logger.warning(
                "Slack refused the answer blocks; using simpler messages (level %d)", level
            )
