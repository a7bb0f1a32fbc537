"""Where an answer goes, and the ``MessageSink`` that posts and edits it with chat.update.

Limits: a message holds at most ``MAX_CHARS`` characters (well under the ~4,000 characters a
``text`` update tolerates and the 12,000 of a markdown block), longer answers continue in new
messages in the same thread. ``chat.update`` is Tier 3 **per workspace**, so every stream in a
workspace shares one budget (``rate_scope``) of ``EDITS_PER_MINUTE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.api import call
from adapters.slack.blocks import answer_blocks, button_value
from adapters.slack.text import sanitize
from bot.errors import SinkError
from bot.model import ConversationKey
from bot.reply.base import SinkLimits

PLATFORM = "slack"
MAX_CHARS = 3500
EDITS_PER_MINUTE = 40.0
EDIT_BURST = 8
MIN_EDIT_INTERVAL = 1.2


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


def sink_limits(workspace: str) -> SinkLimits:
    """The budget all chat.update streams of one workspace share."""
    return SinkLimits(
        max_chars=MAX_CHARS,
        rate_scope=f"slack:{workspace}:chat.update",
        edits_per_minute=EDITS_PER_MINUTE,
        burst=EDIT_BURST,
        min_edit_interval=MIN_EDIT_INTERVAL,
    )


class SlackSink:
    """Posts with chat.postMessage and edits with chat.update; never sleeps on a 429."""

    def __init__(self, client: AsyncWebClient, target: Target) -> None:
        self._client = client
        self._target = target
        self._limits = sink_limits(target.workspace)

    @property
    def limits(self) -> SinkLimits:
        return self._limits

    def sanitize(self, text: str) -> str:
        return sanitize(text)

    async def post(self, text: str, *, final: bool) -> str:
        text = sanitize(text)
        request = self._client.chat_postMessage(
            channel=self._target.channel,
            thread_ts=self._target.thread or None,
            text=text or "…",
            blocks=answer_blocks(text, final=final, value=self._target.value),
            unfurl_links=False,
            unfurl_media=False,
        )
        data = await call("chat.postMessage", request)
        ts = data.get("ts")
        if not isinstance(ts, str) or not ts:
            raise SinkError("chat.postMessage: no ts in the response")
        return ts

    async def edit(self, message_id: str, text: str, *, final: bool) -> None:
        text = sanitize(text)
        request = self._client.chat_update(
            channel=self._target.channel,
            ts=message_id,
            text=text or "…",
            blocks=answer_blocks(text, final=final, value=self._target.value),
        )
        await call("chat.update", request)
