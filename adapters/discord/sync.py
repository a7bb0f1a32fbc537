"""Register the slash commands with Discord only when their definitions change, once across
every process sharing the database.

Discord allows about 200 command creations per guild per day, so syncing on every start is
wasteful. The JSON Discord would receive is hashed together with its scope (application id and
either ``global`` or the ``DISCORD_DEV_GUILD`` id); the hash of what was last registered is
kept in the database (``app_state``, key ``discord.commands:<scope>``), so replicas and the
processes of a sharded bot agree on it. The check and the sync run under the database lock
``discord-command-sync`` (a PostgreSQL advisory lock): when several processes start together,
the first registers and the others find the hash already stored.

``DISCORD_SYNC_COMMANDS``: ``auto`` (default) syncs when the hash differs, ``always`` on every
start, ``never`` leaves registration to you. With ``DISCORD_DEV_GUILD`` the commands are
registered in that guild only (they update instantly there), instead of globally. If the
database cannot be read, nothing is synced (every replica would otherwise sync at once).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import discord
from discord import app_commands

from bot.errors import StoreError
from bot.store.state import StateStore

logger = logging.getLogger(__name__)

LOCK_NAME = "discord-command-sync"
STATE_PREFIX = "discord.commands:"


def command_hash(payload: list[dict[str, Any]], scope: str) -> str:
    text = json.dumps({"scope": scope, "commands": payload}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


async def sync_commands(
    tree: app_commands.CommandTree[Any],
    application_id: int,
    state: StateStore,
    *,
    mode: str,
    dev_guild: int | None,
) -> bool:
    """Sync if needed; True when commands were sent to Discord."""
    if mode == "never":
        return False
    guild = discord.Object(dev_guild) if dev_guild else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    payload = [command.to_dict(tree) for command in tree.get_commands(guild=guild)]
    scope = f"{application_id}:{dev_guild or 'global'}"
    digest = command_hash(payload, scope)
    try:
        async with state.hold_lock(LOCK_NAME):
            if mode == "auto" and await state.get_state(STATE_PREFIX + scope) == digest:
                logger.info("slash commands unchanged; not syncing (%s)", scope)
                return False
            if not await _sync(tree, guild, scope):
                return False
            await state.set_state(STATE_PREFIX + scope, digest)
    except StoreError as exc:
        logger.error("slash commands not synced (%s): the database is unavailable: %s", scope, exc)
        return False
    return True


async def _sync(
    tree: app_commands.CommandTree[Any], guild: discord.Object | None, scope: str
) -> bool:
    try:
        await tree.sync(guild=guild)
    except discord.HTTPException as exc:
        logger.error(
            "could not register slash commands (%s): %s. Invite the bot with the "
            "applications.commands scope (see docs/discord.md).",
            scope,
            exc,
        )
        return False
    logger.info("slash commands registered (%s)", scope)
    return True
