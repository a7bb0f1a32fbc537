"""Slack payloads as Slack sends them (events, slash commands, button clicks) and signing.

The shapes follow Slack's Events API and interactivity docs, trimmed to the fields bots read.
``sign`` produces ``X-Slack-Signature``/``X-Slack-Request-Timestamp`` for HTTP-mode requests.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

APP_ID = "A0THREAD"
_event_ids = itertools.count(1)


def next_event_id() -> str:
    return f"Ev{next(_event_ids):010d}"


def event_callback(
    event: dict[str, Any], *, team: str, event_id: str | None = None
) -> dict[str, Any]:
    """The outer Events API envelope around one event."""
    return {
        "token": "verification-token",
        "team_id": team,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or next_event_id(),
        "event_time": int(time.time()),
        "authorizations": [{"team_id": team, "is_bot": True}],
        "event_context": "EC0000",
    }


def message_event(
    *,
    channel: str,
    ts: str,
    text: str,
    user: str,
    team: str,
    thread_ts: str | None = None,
    channel_type: str = "channel",
    parent_user_id: str | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "team": team,
        "channel_type": channel_type,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    if parent_user_id:
        event["parent_user_id"] = parent_user_id
    return event


def mention_event(message: dict[str, Any]) -> dict[str, Any]:
    """The ``app_mention`` Slack sends alongside a ``message.*`` event for the same message."""
    event = {k: v for k, v in message.items() if k != "channel_type"}
    event["type"] = "app_mention"
    return event


def bot_message_event(
    *, channel: str, ts: str, text: str, bot_id: str, team: str, thread_ts: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "channel": channel,
        "bot_id": bot_id,
        "username": "otherbot",
        "text": text,
        "ts": ts,
        "channel_type": "channel",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def changed_event(
    *, channel: str, message: dict[str, Any], previous: dict[str, Any], ts: str
) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": channel,
        "hidden": True,
        "message": message,
        "previous_message": previous,
        "event_ts": ts,
        "ts": ts,
        "channel_type": "channel" if channel.startswith("C") else "im",
    }


def deleted_event(*, channel: str, previous: dict[str, Any], ts: str) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "channel": channel,
        "hidden": True,
        "deleted_ts": previous["ts"],
        "previous_message": previous,
        "event_ts": ts,
        "ts": ts,
        "channel_type": "channel" if channel.startswith("C") else "im",
    }


def assistant_thread_started(
    *, channel: str, thread_ts: str, user: str, team: str
) -> dict[str, Any]:
    return {
        "type": "assistant_thread_started",
        "assistant_thread": {
            "user_id": user,
            "context": {"channel_id": "C0CONTEXT", "team_id": team, "enterprise_id": None},
            "channel_id": channel,
            "thread_ts": thread_ts,
        },
        "event_ts": thread_ts,
    }


def slash_command(
    *, text: str, user: str, channel: str, team: str, response_url: str, command: str
) -> dict[str, Any]:
    return {
        "token": "verification-token",
        "team_id": team,
        "team_domain": "test",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "response_url": response_url,
        "trigger_id": f"trigger-{next_event_id()}",
    }


def block_action(
    *,
    action_id: str,
    value: str,
    user: str,
    team: str,
    channel: str,
    message: dict[str, Any],
    response_url: str,
) -> dict[str, Any]:
    container = {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": channel,
        "is_ephemeral": False,
    }
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": APP_ID,
        "token": "verification-token",
        "container": container,
        "trigger_id": f"trigger-{next_event_id()}",
        "team": {"id": team, "domain": "test"},
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "threadline_actions",
                "value": value,
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }


def message_action(
    *,
    callback_id: str,
    user: str,
    team: str,
    channel: str,
    message: dict[str, Any],
    response_url: str,
) -> dict[str, Any]:
    """A message shortcut clicked on ``message`` (Slack's ``message_action`` payload)."""
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "token": "verification-token",
        "action_ts": str(time.time()),
        "trigger_id": f"trigger-{next_event_id()}",
        "api_app_id": APP_ID,
        "team": {"id": team, "domain": "test"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "channel": {"id": channel, "name": "general"},
        "message_ts": message["ts"],
        "message": message,
        "response_url": response_url,
    }


def form_body(payload: dict[str, Any], *, interactive: bool) -> bytes:
    """How Slack posts commands (form fields) and interactions (``payload=<json>``)."""
    if interactive:
        return urlencode({"payload": json.dumps(payload)}).encode()
    return urlencode(payload).encode()


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Request headers with a valid v0 signature for ``body``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + stamp.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}
