"""Text commands shared by every adapter: help, reset, settings, usage, access, audit, forget.

Slack's ``/threadline <words>``, the console's ``/<words>`` and Discord's slash commands all end
here, so the wording, validation and permissions are the same everywhere. Each command
returns the text to show the user (ephemerally where the platform can).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot import features, privacy
from bot.access import parse_ids
from bot.audit import LISTED, render as render_audit
from bot.channel_settings import SETTING_NAMES
from bot.engine import ConversationEngine
from bot.errors import SettingError
from bot.governance import SETTING_NAMES as GOVERNED, describe as describe_governance
from bot.model import ConversationKey
from bot.usage import Filter, report as usage_report

HELP = """Threadline commands:
  help                          this help
  reset                         start this conversation afresh (history stays stored)
  settings                      show the settings used here
  settings set NAME VALUE       change a setting for this channel (admins)
  settings set NAME default     go back to the global default (admins)
  usage                         your tokens and cost over 30 days (admins: everyone's)
  usage user ID | channel ID    one user's or one channel's usage (admins)
  access open | closed          answer everyone here / no one here (admins; default: the lists)
  audit                         the latest settings, access and quota changes (admins)
  export                        your stored messages and their answers, as a file, privately
  forget                        erase your stored messages and their answers (asks to confirm)
Settings: """ + ", ".join((*SETTING_NAMES, *GOVERNED, *features.SETTING_NAMES))

NOT_ALLOWED = "Only Threadline admins may change settings here."
ADMINS_ONLY = "Only Threadline admins may do that here."
CONFIRM_HOW = "To go ahead, run the same command followed by `confirm` (forget confirm)."
EXPORT_HOW = "Use export from Slack, Discord or the console to get your history as a file."


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who runs a command, and where."""

    key: ConversationKey
    user_id: str
    can_admin: bool


async def run_command(engine: ConversationEngine, ctx: CommandContext, text: str) -> str:
    """Execute one command line and return the answer to show."""
    words = text.strip().split(maxsplit=3)
    verb = words[0].lower() if words else "help"
    if verb in {"help", "?"}:
        return HELP
    if verb == "reset":
        await engine.reset(ctx.key)
        return "Done: this conversation starts fresh from the next message."
    if verb == "usage":
        return await _usage(engine, ctx, words[1:])
    if verb == "settings":
        return await _settings(engine, ctx, words[1:])
    if verb in OWN_DATA:
        return await OWN_DATA[verb](engine, ctx, words[1:])
    if verb in ADMIN:
        return await ADMIN[verb](engine, ctx, words[1:]) if ctx.can_admin else ADMINS_ONLY
    return f"Unknown command {verb!r}.\n\n{HELP}"


async def _usage(engine: ConversationEngine, ctx: CommandContext, args: list[str]) -> str:
    """Admins see everyone's figures (or one user's, one channel's); anyone else their own."""
    gov = engine.governance
    if not ctx.can_admin:
        if args:
            return ADMINS_ONLY
        mine = Filter(user_id=ctx.user_id, mine=True)
        return await usage_report(gov.store, gov.config.prices, ctx.key, gov.clock(), mine)
    if len(args) == 2 and args[0].lower() in {"user", "channel"}:
        [subject] = parse_ids(args[1]) or [args[1]]
        which = Filter(user_id=subject) if args[0].lower() == "user" else Filter(channel=subject)
    elif args:
        return "Usage: usage, usage user ID or usage channel ID."
    else:
        which = Filter()
    return await usage_report(gov.store, gov.config.prices, ctx.key, gov.clock(), which)


async def _access(engine: ConversationEngine, ctx: CommandContext, args: list[str]) -> str:
    if not args:
        overrides = await engine.channel_overrides(ctx.key)
        return describe_governance(overrides) or "No access rules or quotas set for this channel."
    try:
        await engine.change_setting(ctx.key, "access", args[0], actor=ctx.user_id)
    except SettingError as exc:
        return f"Not changed: {exc.user_message}"
    return f"Access for this channel: {args[0].lower()}."


async def _audit(engine: ConversationEngine, ctx: CommandContext, args: list[str]) -> str:
    store = engine.governance.store
    return render_audit(await store.audit_entries(ctx.key.platform, ctx.key.workspace, LISTED))


async def _forget(engine: ConversationEngine, ctx: CommandContext, args: list[str]) -> str:
    store, platform = engine.governance.store, ctx.key.platform
    if [a.lower() for a in args] == [privacy.CONFIRM]:
        return await privacy.forget(store, platform, ctx.user_id)
    return await privacy.ask_to_forget(store, platform, ctx.user_id, CONFIRM_HOW)


async def _export(engine: ConversationEngine, ctx: CommandContext, args: list[str]) -> str:
    return EXPORT_HOW


Command = Callable[[ConversationEngine, CommandContext, list[str]], Awaitable[str]]
OWN_DATA: dict[str, Command] = {"forget": _forget, "export": _export}
ADMIN: dict[str, Command] = {"access": _access, "audit": _audit}


async def _settings(engine: ConversationEngine, ctx: CommandContext, args: list[str]) -> str:
    if not args or args[0].lower() == "show":
        shown = (await engine.settings_for(ctx.key)).describe()
        overrides = await engine.channel_overrides(ctx.key)
        governed = "\n".join(
            part for part in (describe_governance(overrides), features.describe(overrides)) if part
        )
        return f"{shown}\n{governed}" if governed else shown
    if args[0].lower() != "set" or len(args) < 3:
        return "Usage: settings set NAME VALUE (or settings show)."
    if not ctx.can_admin:
        return NOT_ALLOWED
    try:
        await engine.change_setting(ctx.key, args[1], args[2], actor=ctx.user_id)
    except SettingError as exc:
        return f"Not changed: {exc.user_message}"
    return f"{args[1]} updated for this channel." if args[2] != "default" else "Reset to default."
