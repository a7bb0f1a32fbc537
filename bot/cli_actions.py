"""What each ``threadline`` subcommand does, once settings are loaded."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import app
from bot.config import MAX_DAYS, Settings, require_api_key
from bot.errors import BotError, ConfigError
from bot.llm.base import CompletionRequest
from bot.llm.client import build_http_client
from bot.model import ChatMessage, ConversationKey
from bot.store.health import check_database
from bot.store.migrate import current_revision, upgrade_async
from bot.store.sql import open_store

CONSOLE_PLATFORM = "console"
CONSOLE_WORKSPACE = "local"


async def run(settings: Settings, requested: list[str] | None) -> int:
    require_api_key(settings)
    names = requested or app.configured_adapters(settings)
    if not names:
        raise ConfigError(app.no_adapter_message())
    await app.serve(settings, names)
    return 0


async def console(settings: Settings, channel: str) -> int:
    key = ConversationKey(CONSOLE_PLATFORM, CONSOLE_WORKSPACE, channel, "")
    module = importlib.import_module("adapters.console")
    async with app.open_core(settings) as core:
        ok: bool = await module.chat(core.engine, key, sys.stdin, sys.stdout)
    return 0 if ok else 1


async def db(settings: Settings, action: str) -> int:
    if action == "upgrade":
        await upgrade_async(settings.database_url)
    current = await current_revision(settings.database_url)
    print(f"database {redact_url(settings.database_url)} is at revision {current or 'none'}")
    return 0


async def doctor(settings: Settings) -> int:
    """Check config, database and the model endpoint; print one line each."""
    checks = [
        ("config", _check_config(settings)),
        ("database", await _check_database(settings)),
        ("llm", await _check_llm(settings)),
    ]
    for name, (ok, detail) in checks:
        print(f"{name:<9} {'ok' if ok else 'FAILED'}: {detail}")
    return 0 if all(ok for _, (ok, _) in checks) else 1


def _check_config(settings: Settings) -> tuple[bool, str]:
    try:
        require_api_key(settings)
    except ConfigError as exc:
        return False, str(exc)
    adapters = ", ".join(app.configured_adapters(settings)) or "none (console only)"
    return True, f"model {settings.llm.defaults.model} at {settings.llm.base_url}; {adapters}"


async def _check_database(settings: Settings) -> tuple[bool, str]:
    health = await check_database(settings.database_url)
    return health.ok, health.detail


async def _check_llm(settings: Settings) -> tuple[bool, str]:
    llm = settings.llm
    if not llm.api_key:
        return False, "skipped: LLM_API_KEY is not set"
    params = llm.defaults.merged({"max_tokens": 5, "n": 1})
    request = CompletionRequest([{"role": "user", "content": "Say ok."}], params)
    async with build_http_client(llm.base_url, llm.connect_timeout) as http:
        try:
            await app.completions_client(http, llm).complete(request)
        except BotError as exc:
            return False, f"{llm.base_url}, model {params.model}: {exc}"
    return True, f"{llm.base_url} answered with model {params.model}"


async def export(settings: Settings, args: argparse.Namespace) -> int:
    key = ConversationKey(args.platform, args.workspace, args.channel, args.thread)
    async with open_store(settings.database_url) as store:
        for message in await store.export(key):
            print(json.dumps(_exported(message), ensure_ascii=False))
    return 0


def _exported(message: ChatMessage) -> dict[str, Any]:
    return {
        "role": message.role.value,
        "author_id": message.author_id,
        "author_name": message.author_name,
        "content": message.content,
        "status": message.status.value,
        "model": message.model,
        "created_at": message.created_at.isoformat() if message.created_at else None,
        "alternatives": list(message.extra.get("alternatives") or []),
    }


async def purge(settings: Settings, days: int) -> int:
    if not 0 <= days <= MAX_DAYS:
        raise ConfigError(f"--older-than must be 0 to {MAX_DAYS} days.")
    async with open_store(settings.database_url, migrate=True) as store:
        count = await store.purge_before(datetime.now(UTC) - timedelta(days=days))
    print(f"purged {count} messages older than {days} days")
    return 0


def redact_url(url: str) -> str:
    """Hide a password in a database URL."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"
