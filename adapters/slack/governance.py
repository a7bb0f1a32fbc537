"""Governance on Slack: a refused question's private notice, and the export sent by DM.

* A question governance refuses (``Refused``: access, flood control, a used-up quota) gets one
  ``chat.postEphemeral`` to its author, in the thread it was asked in: never a reply in the
  channel, never silence. Slack delivers a mention as two events (``message`` and
  ``app_mention``); the message's claim makes the second one quiet.
* ``export`` sends the person's history as a file in a DM with the bot (``conversations.open``,
  then ``files.uploadV2``: scopes ``im:write`` and ``files:write``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackClientError

from adapters.slack.api import call
from adapters.slack.sink import PLATFORM, Target
from adapters.slack.workspaces import Workspace
from bot import privacy
from bot.engine import ConversationEngine
from bot.errors import SinkError

logger = logging.getLogger(__name__)

EXPORT_SENT = "I sent you a direct message with your history ({count} message(s)) as a file."
EXPORT_EMPTY = "Threadline keeps no messages of yours, so there is nothing to export."
EXPORT_FAILED = "I could not send you the file ({error}). Please try again later."


async def tell_refused(
    engine: ConversationEngine, ws: Workspace, target: Target, event: Mapping[str, Any], text: str
) -> None:
    """Tell the author privately why their message is not answered (once per message), where
    they wrote it: in its thread, or at the channel's top level."""
    if not await engine.claim_event(PLATFORM, f"message:{target.channel}:{event['ts']}"):
        return
    request = ws.client.chat_postEphemeral(
        channel=target.channel,
        user=target.user,
        text=text,
        thread_ts=str(event.get("thread_ts") or "") or None,
    )
    try:
        await call("chat.postEphemeral", request)
    except SinkError as exc:
        logger.warning("could not tell %s why they were refused: %s", target.user, exc)


async def send_export(engine: ConversationEngine, ws: Workspace, user: str) -> str:
    """DM ``user`` their history as a file; the text the command answers with."""
    data = await privacy.export(engine.governance.store, PLATFORM, user)
    if not data:
        return EXPORT_EMPTY
    try:
        opened = await call("conversations.open", ws.client.conversations_open(users=user))
        channel = str(opened["channel"]["id"])
        upload = ws.client.files_upload_v2(
            channel=channel,
            content=data,
            filename=privacy.filename(PLATFORM, user),
            title="Your Threadline history",
            initial_comment="Your messages to Threadline and its answers, as JSON lines.",
        )
        await call("files.uploadV2", upload)
    except (SinkError, SlackClientError, KeyError, TypeError) as exc:
        logger.warning("export for %s not sent: %s", user, exc)
        return EXPORT_FAILED.format(error=exc)
    return EXPORT_SENT.format(count=len(data.splitlines()))
