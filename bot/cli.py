"""The ``threadline`` command line.

    threadline run [--adapter NAME ...]   serve the configured platforms (Slack, Discord)
    threadline console [--channel NAME]   chat with the model in the terminal
    threadline db upgrade|current         apply or show database migrations
    threadline doctor                     check configuration, database and model endpoint
    threadline export --channel NAME      print a conversation's history as JSON lines
    threadline purge --older-than DAYS    delete history older than DAYS days
    threadline usage [--by user|channel|model|day] [--days N] [--json]   tokens and requests
    threadline audit                      list settings, access and quota changes
    threadline forget --user ID --platform P [--yes]   erase one person's messages

Errors a user can fix are printed as one line on stderr with exit status 2 (configuration) or
1 (everything else); tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from bot import __version__, cli_governance
from bot.config import EnvReader, Settings, load_settings, require_api_key
from bot.errors import BotError, ConfigError
from bot.logs import setup_logging

USAGE_GROUPINGS = ("user", "channel", "model", "day")  # bot.store.usage.GROUPINGS
EXIT_CONFIG = 2
EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="threadline", description="LLM chat bot for Slack and Discord."
    )
    parser.add_argument("--version", action="version", version=f"threadline {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser("run", help="serve the configured platforms")
    run.add_argument("--adapter", action="append", choices=["slack", "discord"], default=None)
    console = commands.add_parser("console", help="chat with the model in the terminal")
    console.add_argument(
        "--channel", default="default", help="conversation name (kept across runs)"
    )
    db = commands.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "current"])
    commands.add_parser("doctor", help="check configuration, database and model endpoint")
    export = commands.add_parser("export", help="print a conversation as JSON lines")
    export.add_argument("--platform", default="console")
    export.add_argument("--workspace", default="local")
    export.add_argument("--channel", required=True)
    export.add_argument("--thread", default="")
    purge = commands.add_parser("purge", help="delete history older than some days")
    purge.add_argument("--older-than", type=int, required=True, metavar="DAYS")
    _add_usage(commands)
    cli_governance.add_commands(commands)
    return parser


def _add_usage(commands: Any) -> None:
    usage = commands.add_parser(
        "usage", help="tokens (reported and estimated) and requests from the usage ledger"
    )
    usage.add_argument("--by", choices=USAGE_GROUPINGS, default="user")
    usage.add_argument("--days", type=int, default=30, metavar="N", help="the last N days (30)")
    usage.add_argument("--platform", default=None, help="slack, discord or console (all)")
    usage.add_argument("--workspace", default=None, help="Slack team / Discord guild id (all)")
    usage.add_argument("--json", action="store_true", help="JSON instead of a table")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_CONFIG
    try:
        env = EnvReader.load()
        settings = load_settings(env)
        quiet = args.command == "console" and not env.is_set("LOG_LEVEL")
        setup_logging("warning" if quiet else settings.log_level, settings.log_format)
        return asyncio.run(dispatch(args, settings))
    except ConfigError as exc:
        print(f"threadline: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except BotError as exc:
        print(f"threadline: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


async def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from bot import cli_actions as actions

    if args.command == "run":
        return await actions.run(settings, args.adapter)
    if args.command == "console":
        require_api_key(settings)
        return await actions.console(settings, args.channel)
    if args.command == "db":
        return await actions.db(settings, args.action)
    if args.command == "doctor":
        return await actions.doctor(settings)
    if args.command == "export":
        return await actions.export(settings, args)
    if args.command == "usage":
        return await actions.usage(settings, args)
    if args.command == "audit":
        return await cli_governance.audit(settings, args)
    if args.command == "forget":
        return await cli_governance.forget(settings, args)
    return await actions.purge(settings, args.older_than)
