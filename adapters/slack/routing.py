"""Pure decisions about Slack events: whose message is it, and where would an answer go.

Conversations (see docs/slack.md):

- A mention in a channel is answered in a thread under it; the thread is the conversation
  (``thread = thread_ts or ts``). Later messages in a thread the bot answered continue it
  without a mention (``SLACK_THREAD_FOLLOWUPS``), unless they address someone else.
- A top-level DM is answered in place, in the DM's own conversation (``thread = ""``); a reply
  in a DM thread (the assistant panel's threads included) is that thread's conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

USER_SUBTYPES = frozenset({None, "", "thread_broadcast", "file_share", "me_message"})
DIRECT = "im"

Event = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Identity:
    """The bot as ``auth.test`` describes it; ``app_id`` is Threadline's Slack app ("" when
    Slack would not say), so messages of any install or webhook of the same app count as own."""

    workspace: str
    user_id: str
    bot_id: str
    name: str
    app_id: str = ""


class Kind(Enum):
    """What a ``message`` event is, as far as answering goes."""

    USER = "user"
    BOT = "bot"
    OWN = "own"
    EDITED = "edited"
    DELETED = "deleted"
    OTHER = "other"


def kind_of(event: Event, me: Identity) -> Kind:
    """Classify a ``message`` (or ``app_mention``) event."""
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return Kind.EDITED
    if subtype == "message_deleted":
        return Kind.DELETED
    if is_own(event, me):
        return Kind.OWN
    if event.get("bot_id") or subtype == "bot_message":
        return Kind.BOT
    if subtype in USER_SUBTYPES and event.get("user"):
        return Kind.USER
    return Kind.OTHER


def is_own(message: Event, me: Identity) -> bool:
    """Whether a message was posted by this bot, or by anything else of Threadline's app.

    A second install of the same app, or a webhook of it, posts under another ``bot_id`` and
    user; its ``app_id`` (on the message or in ``bot_profile``) still gives it away, and
    answering it could loop.
    """
    bot_id = message.get("bot_id")
    user = message.get("user")
    if (bot_id and bot_id == me.bot_id) or (user and user == me.user_id):
        return True
    return bool(me.app_id) and me.app_id in _app_ids(message)


def _app_ids(message: Event) -> set[str]:
    """The app ids a message names (its own ``app_id`` and its ``bot_profile``'s)."""
    profile = message.get("bot_profile")
    found = {message.get("app_id"), profile.get("app_id") if isinstance(profile, Mapping) else None}
    return {str(app_id) for app_id in found if app_id}


def is_direct(event: Event) -> bool:
    return event.get("channel_type") == DIRECT or str(event.get("channel", "")).startswith("D")


def in_thread(message: Event) -> bool:
    """A reply inside a thread (not the thread's parent)."""
    thread_ts = message.get("thread_ts")
    return bool(thread_ts) and thread_ts != message.get("ts")


def conversation_thread(message: Event, direct: bool) -> str:
    """The ``ConversationKey.thread`` a message belongs to (and where its answer goes)."""
    if in_thread(message):
        return str(message["thread_ts"])
    return "" if direct else str(message.get("ts", ""))


def author_of(event: Event) -> str:
    """The user id of a person, or the bot id of a bot."""
    return str(event.get("user") or event.get("bot_id") or "")


def bot_name(event: Event) -> str:
    profile = event.get("bot_profile")
    if isinstance(profile, Mapping) and profile.get("name"):
        return str(profile["name"])
    return str(event.get("username") or event.get("bot_id") or "bot")


def sent_at(ts: str) -> datetime | None:
    """A Slack ``ts`` as a UTC datetime."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
