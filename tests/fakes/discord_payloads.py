"""JSON shapes of Discord API objects, as the real API sends them (API v10).

Only what a bot like Threadline sees: users, members, a guild with text channels and threads,
messages and interactions. Snowflakes carry the current time, like Discord's, so discord.py's
``created_at`` / ``Interaction.expires_at`` are meaningful.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
_counter = itertools.count()

# Channel types (Discord API)
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12

# Permission bits
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 50) - 1
MEMBER_PERMISSIONS = (1 << 0) | (1 << 6) | (1 << 10) | SEND_MESSAGES | (1 << 16) | (1 << 31)
MEMBER_PERMISSIONS |= SEND_MESSAGES_IN_THREADS | CREATE_PUBLIC_THREADS


def snowflake(at_ms: float | None = None) -> int:
    """A new unique snowflake whose timestamp is ``at_ms`` (default: now)."""
    ms = int(time.time() * 1000 if at_ms is None else at_ms)
    return ((ms - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0x3FFFFF)


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name.capitalize(),
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


def member(user_obj: dict[str, Any], roles: list[str] | None = None) -> dict[str, Any]:
    return {
        "user": user_obj,
        "nick": None,
        "roles": roles or [],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
    }


def role(role_id: int, name: str, permissions: int) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "color": 0,
        "hoist": False,
        "position": 0 if name == "@everyone" else 1,
        "permissions": str(permissions),
        "managed": False,
        "mentionable": True,
        "flags": 0,
    }


def text_channel(
    channel_id: int, guild_id: int, name: str, *, kind: int = GUILD_TEXT
) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": kind,
        "guild_id": str(guild_id),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "default_auto_archive_duration": 1440,
        "bitrate": 64000,
        "user_limit": 0,
        "rtc_region": None,
        "video_quality_mode": 1,
    }


def thread(
    thread_id: int,
    guild_id: int,
    parent_id: int,
    name: str,
    owner_id: int,
    *,
    private: bool = False,
    archived: bool = False,
    locked: bool = False,
) -> dict[str, Any]:
    return {
        "id": str(thread_id),
        "type": PRIVATE_THREAD if private else PUBLIC_THREAD,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "flags": 0,
        "thread_metadata": {
            "archived": archived,
            "auto_archive_duration": 1440,
            "archive_timestamp": iso_now(),
            "locked": locked,
            "invitable": not private,
            "create_timestamp": iso_now(),
        },
    }


def dm_channel(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(channel_id), "type": DM, "last_message_id": None, "recipients": [recipient]}


def guild(
    guild_id: int,
    name: str,
    owner_id: int,
    roles: list[dict[str, Any]],
    channels: list[dict[str, Any]],
    threads: list[dict[str, Any]],
    members: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": roles,
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "large": False,
        "unavailable": False,
        "member_count": len(members),
        "voice_states": [],
        "members": members,
        "channels": channels,
        "threads": threads,
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def message(
    message_id: int,
    channel_id: int,
    author: dict[str, Any],
    content: str,
    *,
    guild_id: int | None = None,
    member_obj: dict[str, Any] | None = None,
    mentions: list[dict[str, Any]] | None = None,
    components: list[dict[str, Any]] | None = None,
    reference: dict[str, Any] | None = None,
    flags: int = 0,
    webhook_id: int | None = None,
    interaction_metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": mentions or [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 19 if reference else 0,
        "flags": flags,
        "components": components or [],
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if member_obj is not None:
        data["member"] = {k: v for k, v in member_obj.items() if k != "user"}
    if reference is not None:
        data["message_reference"] = reference
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    if interaction_metadata is not None:
        data["interaction_metadata"] = interaction_metadata
    return data


def interaction(
    interaction_id: int,
    application_id: int,
    kind: int,
    token: str,
    data: dict[str, Any],
    channel: dict[str, Any],
    *,
    guild_id: int | None,
    member_obj: dict[str, Any] | None,
    user_obj: dict[str, Any],
    permissions: int,
    app_permissions: int,
    message_obj: dict[str, Any] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(application_id),
        "type": kind,
        "data": data,
        "channel_id": channel["id"],
        "channel": channel,
        "token": token,
        "version": 1,
        "app_permissions": str(app_permissions),
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id)}
        if guild_id
        else {"1": user_obj["id"]},
        "context": 0 if guild_id else 1,
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id is not None and member_obj is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild_locale"] = "en-US"
        payload["member"] = {**member_obj, "permissions": str(permissions)}
    else:
        payload["user"] = user_obj
    if message_obj is not None:
        payload["message"] = message_obj
    return payload
