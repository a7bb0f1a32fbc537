"""What each ``threadline`` subcommand does, once settings are loaded."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from datetime import UTC, datetime, timedelta

from bot import app
from bot.config import MAX_DAYS, Settings, require_api_key
from bot.errors import BotError, ConfigError
from bot.llm.base import CompletionRequest
from bot.llm.client import build_http_client
from bot.model import ConversationKey
from bot.privacy import exported
from bot.store.health import check_database
from bot.store.migrate import current_revision, upgrade_async
from bot.store.sql import open_store
from bot.store.usage import UsageGroup, UsageQuery

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
    async with app.open_core(settings) as core, app.ops_endpoint(core, settings):
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
            print(json.dumps(exported(message), ensure_ascii=False))
    return 0


async def purge(settings: Settings, days: int) -> int:
    if not 0 <= days <= MAX_DAYS:
        raise ConfigError(f"--older-than must be 0 to {MAX_DAYS} days.")
    async with open_store(settings.database_url, migrate=True) as store:
        count = await store.purge_before(datetime.now(UTC) - timedelta(days=days))
    print(f"purged {count} messages older than {days} days")
    return 0


async def usage(settings: Settings, args: argparse.Namespace) -> int:
    """Print ledger totals of the last ``--days`` days, grouped by ``--by``."""
    if not 1 <= args.days <= MAX_DAYS:
        raise ConfigError(f"--days must be 1 to {MAX_DAYS}.")
    since = datetime.now(UTC) - timedelta(days=args.days)
    query = UsageQuery(args.by, since, args.platform, args.workspace)
    async with open_store(settings.database_url) as store:
        groups = await store.usage_totals(query)
    if args.json:
        print(json.dumps([group.as_json() for group in groups], indent=2))
    else:
        print(usage_table(args.by, groups, args.days))
    return 0


def usage_table(by: str, groups: list[UsageGroup], days: int) -> str:
    """Aligned columns, a total line, and what ESTIMATED means; estimated figures end in ``*``."""
    if not groups:
        return f"no usage recorded in the last {days} days"
    places = by in ("user", "channel")
    header = [by.upper(), *(["PLATFORM", "WORKSPACE"] if places else []), *USAGE_NUMBERS]
    rows = [_usage_cells(g, places) for g in groups]
    rows.append(["total", *([""] * (len(header) - 1 - len(USAGE_NUMBERS))), *_sums(groups)])
    first_number = len(header) - len(USAGE_NUMBERS)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.rjust(width) if i >= first_number else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join([*lines, ESTIMATED_NOTE])


USAGE_NUMBERS = ["REQUESTS", "PROMPT", "COMPLETION", "TOTAL", "ESTIMATED"]
ESTIMATED_NOTE = (
    "* includes ESTIMATED tokens: counted by Threadline because the endpoint reported no usage."
)


def _usage_cells(group: UsageGroup, places: bool) -> list[str]:
    place = [group.platform, group.workspace] if places else []
    return [
        group.group or "-",
        *place,
        *_numbers(
            group.requests, group.prompt_tokens, group.completion_tokens, group.estimated_tokens
        ),
    ]


def _sums(groups: list[UsageGroup]) -> list[str]:
    return _numbers(
        sum(g.requests for g in groups),
        sum(g.prompt_tokens for g in groups),
        sum(g.completion_tokens for g in groups),
        sum(g.estimated_tokens for g in groups),
    )


def _numbers(requests: int, prompt: int, completion: int, estimated: int) -> list[str]:
    mark = "*" if estimated else ""
    total = prompt + completion
    return [
        f"{requests:,}",
        f"{prompt:,}{mark}",
        f"{completion:,}{mark}",
        f"{total:,}{mark}",
        f"{estimated:,}",
    ]


def redact_url(url: str) -> str:
    """Hide a password in a database URL."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"
