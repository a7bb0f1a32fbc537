"""The governance subcommands of ``threadline``: ``audit`` and ``forget``.

    threadline audit [--platform P] [--workspace W] [--limit N]
    threadline forget --user ID --platform P [--yes]

Decided: ``forget`` without ``--yes`` only says what it would erase and exits 1 (on a
terminal it asks first and goes ahead on ``y``), so a script can never erase by accident.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot import privacy
from bot.audit import render
from bot.config import Settings

CONFIRM_HOW = "Run again with --yes to erase."


def add_commands(commands: Any) -> None:
    """Add ``audit`` and ``forget`` to the ``threadline`` subcommands."""
    audit = commands.add_parser("audit", help="list settings, access and quota changes")
    audit.add_argument("--platform", default=None, help="slack, discord or console (all)")
    audit.add_argument("--workspace", default=None, help="Slack team / Discord guild id (all)")
    audit.add_argument("--limit", type=int, default=50, metavar="N")
    forget = commands.add_parser("forget", help="erase one person's messages and answers")
    forget.add_argument("--user", required=True, help="the person's platform user id")
    forget.add_argument("--platform", required=True, help="slack, discord or console")
    forget.add_argument("--yes", action="store_true", help="erase without asking")


async def audit(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.sql import open_store  # the database layer only when a command needs it

    async with open_store(settings.database_url, migrate=True) as store:
        entries = await store.audit_entries(args.platform, args.workspace, max(1, args.limit))
    print(render(entries))
    return 0


async def forget(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store.sql import open_store

    async with open_store(settings.database_url, migrate=True) as store:
        if not args.yes:
            print(await privacy.ask_to_forget(store, args.platform, args.user, CONFIRM_HOW))
            if not (sys.stdin.isatty() and input("Erase now? [y/N] ").strip().lower() == "y"):
                return 1
        print(await privacy.forget(store, args.platform, args.user))
    return 0
