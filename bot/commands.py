"""Text commands shared by every adapter: help, reset, settings, usage.

Slack's ``/threadline <words>``, the console's ``/<words>`` and Discord's slash commands all end
here, so the wording, validation and permissions are the same everywhere. Each command
returns the text to show the user (ephemerally where the platform can).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.channel_settings import SETTING_NAMES
from bot.engine import ConversationEngine
from bot.errors import SettingError
from bot.model import ConversationKey

HELP = """Threadline commands:
  help                          this help
  reset                         forget this conversation's history (start fresh)
  settings                      show the model settings used here
  settings set NAME VALUE       change a setting for this channel (admins)
  settings set NAME default     go back to the global default (admins)
  usage                         your token usage over 30 days (admins: everyone's)
Settings: """ + ", ".join(SETTING_NAMES)

NOT_ALLOWED = "Only Threadline admins may change settings here."


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
    if verb in {"reset", "forget"}:
        await engine.reset(ctx.key)
        return "Done: this conversation starts fresh from the next message."
    if verb == "usage":
        # Admins see everyone's figures; anyone else only their own (issue: shared channels).
        own = None if ctx.can_admin else ctx.user_id
        return await engine.usage_report(ctx.key.platform, ctx.key.workspace, user_id=own)
    if verb == "settings":
        return await _settings(engine, ctx, words[1:])
    return f"Unknown command {verb!r}.\n\n{HELP}"


async def _settings(engine: ConversationEngine, ctx: CommandContext, args: list[str]) -> str:
    if not args or args[0].lower() == "show":
        return (await engine.settings_for(ctx.key)).describe()
    if args[0].lower() != "set" or len(args) < 3:
        return "Usage: settings set NAME VALUE (or settings show)."
    if not ctx.can_admin:
        return NOT_ALLOWED
    try:
        await engine.change_setting(ctx.key, args[1], args[2])
    except SettingError as exc:
        return f"Not changed: {exc.user_message}"
    return f"{args[1]} updated for this channel." if args[2] != "default" else "Reset to default."
