"""Who may talk to Threadline, and where: allow and block lists, global and per channel.

Decisions (the issue leaves them open):

* **Blocked wins.** A user in ``BLOCKED_USERS`` or the channel's ``blocked_users``, or a channel
  in ``BLOCKED_CHANNELS`` or switched ``access closed``, is refused whatever any allow list says.
  Block lists add up: a channel cannot unblock someone the operator blocked.
* **An empty allow list allows everyone.** A channel's ``allowed_users`` / ``allowed_roles``,
  once set, replace the global ``ALLOWED_USERS`` / ``ALLOWED_ROLES`` in that channel (as every
  per-channel setting overrides its global default). A user passes when both lists are empty,
  or they are listed, or (Discord) they hold a listed role (by id or, case-insensitively, name).
* **Channels.** A thread follows its parent channel. ``access open`` admits a channel that
  ``ALLOWED_CHANNELS`` does not list; ``access closed`` shuts it. Direct messages match their
  channel id and the word ``dm``: with ``ALLOWED_CHANNELS`` set, DMs are refused unless it lists
  ``dm``; ``BLOCKED_CHANNELS=dm`` turns every DM off.
* **Discord only:** ``ALLOWED_ROLES`` and ``ALLOWED_GUILDS`` apply to Discord messages; other
  platforms have no roles or guilds. ``ALLOWED_GUILDS`` does not apply to DMs (no guild); a DM
  carries no roles, so there only ``ALLOWED_USERS`` can admit someone ``ALLOWED_ROLES`` would.
* Commands (help, usage, forget, export, settings) are not subject to these rules: a refused
  person can still see and erase their data, and an admin can undo a mistaken ``access closed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import SettingError
from bot.model import IncomingMessage

DM = "dm"
ROLE_PLATFORMS = frozenset({"discord"})
ACCESS = "access"
CHANNEL_LISTS = ("allowed_users", "blocked_users", "allowed_roles")
CHANNEL_SETTINGS = (*CHANNEL_LISTS, ACCESS)

BLOCKED = (
    "You can't use Threadline: an admin has blocked your access. Ask them if this is a mistake."
)
CLOSED = "Threadline is turned off in this channel. Ask an admin, or try another channel."
NOT_LISTED_CHANNEL = "Threadline is not enabled in this channel. Ask an admin to enable it."
NOT_LISTED_GUILD = "Threadline is not enabled in this server. Ask an admin to enable it."
NOT_LISTED_USER = (
    "You're not on the list of people who may use Threadline here. Ask an admin for access."
)


@dataclass(frozen=True, slots=True)
class AccessRules:
    """The global lists (``ALLOWED_USERS`` ...); empty means "no rule"."""

    allowed_users: frozenset[str] = frozenset()
    blocked_users: frozenset[str] = frozenset()
    allowed_channels: frozenset[str] = frozenset()
    blocked_channels: frozenset[str] = frozenset()
    allowed_roles: frozenset[str] = frozenset()
    allowed_guilds: frozenset[str] = frozenset()


def refusal(rules: AccessRules, channel: Mapping[str, Any], message: IncomingMessage) -> str | None:
    """Why ``message`` may not be answered (the private sentence), or None when it may.

    ``channel`` is the channel's stored overrides (``allowed_users``, ``access`` ...).
    """
    user = message.author_id
    if user in rules.blocked_users or user in _listed(channel, "blocked_users"):
        return BLOCKED
    where = _channel_refusal(rules, channel, message)
    if where is not None:
        return where
    return None if _user_admitted(rules, channel, message) else NOT_LISTED_USER


def _channel_refusal(
    rules: AccessRules, channel: Mapping[str, Any], message: IncomingMessage
) -> str | None:
    names = {message.key.channel, DM} if message.is_direct else {message.key.channel}
    switch = channel.get(ACCESS)
    if switch == "closed" or names & rules.blocked_channels:
        return CLOSED
    if switch != "open" and rules.allowed_channels and not names & rules.allowed_channels:
        return NOT_LISTED_CHANNEL
    guilds = rules.allowed_guilds
    on_discord = message.key.platform in ROLE_PLATFORMS
    if on_discord and guilds and not message.is_direct and message.key.workspace not in guilds:
        return NOT_LISTED_GUILD
    return None


def _user_admitted(
    rules: AccessRules, channel: Mapping[str, Any], message: IncomingMessage
) -> bool:
    users = _listed(channel, "allowed_users") if "allowed_users" in channel else rules.allowed_users
    roles = _listed(channel, "allowed_roles") if "allowed_roles" in channel else rules.allowed_roles
    if message.key.platform not in ROLE_PLATFORMS:
        roles = frozenset()
    if not users and not roles:
        return True
    held = {role.lower() for role in message.roles}
    return message.author_id in users or bool(held & {role.lower() for role in roles})


def _listed(channel: Mapping[str, Any], name: str) -> frozenset[str]:
    value = channel.get(name)
    return frozenset(str(v) for v in value) if isinstance(value, list) else frozenset()


def parse_ids(text: str) -> tuple[str, ...]:
    """Comma-separated ids (Slack ``<@U123>`` / ``<#C123|name>`` and Discord ``<@123>``,
    ``<@&123>``, ``<#123>`` mentions are taken as their ids)."""
    return tuple(dict.fromkeys(_id(item) for item in text.split(",") if _id(item)))


def _id(item: str) -> str:
    text = item.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].split("|", 1)[0].lstrip("@#&!")
    return text


def channel_value(name: str, raw: str) -> Any:
    """The stored value of a per-channel access setting; ``SettingError`` if invalid."""
    if name == ACCESS:
        value = raw.strip().lower()
        if value not in ("open", "closed"):
            raise SettingError("access must be open or closed (or default).")
        return value
    ids = parse_ids(raw)
    if not ids:
        raise SettingError(f"{name} needs comma-separated ids, e.g. U123,U456 (or default).")
    return list(ids)


__all__ = [
    "CHANNEL_SETTINGS",
    "AccessRules",
    "channel_value",
    "parse_ids",
    "refusal",
]
