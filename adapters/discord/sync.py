"""Register the slash commands with Discord only when their definitions change.

Discord allows about 200 command creations per guild per day, so syncing on every start is
wasteful. The JSON Discord would receive is hashed together with its scope (application id and
either ``global`` or the ``DISCORD_DEV_GUILD`` id); the hash is kept in
``<data dir>/discord-commands.json``. ``DISCORD_SYNC_COMMANDS``: ``auto`` (default) syncs when
the hash differs, ``always`` on every start, ``never`` leaves registration to you.
With ``DISCORD_DEV_GUILD`` the commands are registered in that guild only (they update
instantly there), instead of globally.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

logger = logging.getLogger(__name__)

HASH_FILE = "discord-commands.json"


def command_hash(payload: list[dict[str, Any]], scope: str) -> str:
    text = json.dumps({"scope": scope, "commands": payload}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_hashes(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_hashes(path: Path, hashes: dict[str, str]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(hashes, indent=2, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        logger.warning("cannot remember the command hash in %s (%s); will sync again", path, exc)


async def sync_commands(
    tree: app_commands.CommandTree[Any],
    application_id: int,
    data_dir: Path,
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
    path = data_dir / HASH_FILE
    hashes = _read_hashes(path)
    if mode == "auto" and hashes.get(scope) == digest:
        logger.info("slash commands unchanged; not syncing (%s)", scope)
        return False
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
    _write_hashes(path, {**hashes, scope: digest})
    return True
