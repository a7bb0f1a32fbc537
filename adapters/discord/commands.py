"""The slash commands: ``/chat``, ``/reset``, ``/settings show|set``, ``/usage``, ``/access``,
``/audit``, ``/forget`` and ``/export`` (the last two in ``adapters.discord.governance``).

Wording, validation and permissions come from ``bot.commands.run_command``, the same as on
every platform. Changing settings needs Manage Server (or Administrator) or a role named or
numbered in ``DISCORD_ADMIN_ROLE``; in a DM the user owns the conversation. Answers are
ephemeral except ``/reset`` and a successful ``/settings set``, which everyone in the
conversation should see.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord import governance as own_data
from adapters.discord.acknowledge import acknowledge
from adapters.discord.chat import ChatCommand
from adapters.discord.runtime import Runtime
from bot.channel_settings import SETTING_NAMES
from bot.commands import NOT_ALLOWED, CommandContext, run_command
from bot.engine import ConversationEngine
from bot.features import SETTING_NAMES as FEATURES
from bot.governance import SETTING_NAMES as GOVERNED

logger = logging.getLogger(__name__)

MAX_PROMPT = 4000
SETTING_CHOICES = [
    app_commands.Choice(name=name, value=name) for name in (*SETTING_NAMES, *GOVERNED, *FEATURES)
]
ACCESS_CHOICES = [app_commands.Choice(name=v, value=v) for v in ("open", "closed", "default")]
PRIVATE_ANSWERS = ("Not changed:", "Usage:", NOT_ALLOWED)


class SlashCommands:
    """Handlers behind the command tree."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self.chat = ChatCommand(runtime)

    def can_admin(self, interaction: discord.Interaction[Any]) -> bool:
        return self._rt.can_admin(interaction)

    @property
    def engine(self) -> ConversationEngine:
        return self._rt.engine

    def track(self) -> None:
        self._rt.track()

    async def run(self, interaction: discord.Interaction[Any], line: str) -> None:
        """Run one command line and show its answer."""
        self._rt.track()
        ctx = CommandContext(
            await self._rt.key_of(interaction),
            str(interaction.user.id),
            self.can_admin(interaction),
        )
        answer = await run_command(self._rt.engine, ctx, line)
        changed = line.startswith("settings set") and not answer.startswith(PRIVATE_ANSWERS)
        public = line == "reset" or changed
        reply = interaction.response.send_message(answer[:2000], ephemeral=not public)
        await acknowledge(interaction, f"/{line.split()[0]} answer", reply)


def build_commands(
    handlers: SlashCommands,
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """The command objects to add to the tree (definitions are hashed for sync)."""
    return [
        _chat(handlers),
        _reset(handlers),
        _settings(handlers),
        _usage(handlers),
        *governance_commands(handlers),
    ]


def _chat(handlers: SlashCommands) -> app_commands.Command[Any, ..., Any]:
    @app_commands.command(name="chat", description="Ask the model; the answer streams in a thread")
    @app_commands.describe(
        prompt="What to ask",
        model="Model for this answer (default: the channel's setting)",
        temperature="Sampling temperature from 0 to 2 for this answer",
        private="Open a private thread only you (and people you add) can see",
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.allowed_installs(guilds=True, users=False)
    async def chat(
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, MAX_PROMPT],
        model: app_commands.Range[str, 1, 200] | None = None,
        temperature: app_commands.Range[float, 0.0, 2.0] | None = None,
        private: bool = False,
    ) -> None:
        await handlers.chat.run(interaction, prompt, model, temperature, private)

    return chat


def _reset(handlers: SlashCommands) -> app_commands.Command[Any, ..., Any]:
    @app_commands.command(name="reset", description="Forget this conversation (start fresh)")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def reset(interaction: discord.Interaction[Any]) -> None:
        await handlers.run(interaction, "reset")

    return reset


def _usage(handlers: SlashCommands) -> app_commands.Command[Any, ..., Any]:
    @app_commands.command(name="usage", description="Tokens and cost over 30 days")
    @app_commands.describe(
        user="Admins: only this person's usage", channel="Admins: only this channel's usage"
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def usage(
        interaction: discord.Interaction[Any],
        user: discord.User | None = None,
        channel: discord.abc.GuildChannel | None = None,
    ) -> None:
        line = "usage"
        if user is not None:
            line = f"usage user {user.id}"
        elif channel is not None:
            line = f"usage channel {channel.id}"
        await handlers.run(interaction, line)

    return usage


def governance_commands(handlers: SlashCommands) -> list[app_commands.Command[Any, ..., Any]]:
    """``/access``, ``/audit``, ``/forget`` and ``/export``."""

    @app_commands.command(name="access", description="Who may use Threadline here (admins)")
    @app_commands.describe(state="open: everyone here; closed: no one; default: the lists")
    @app_commands.choices(state=ACCESS_CHOICES)
    @app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
    async def access(
        interaction: discord.Interaction[Any], state: app_commands.Choice[str] | None = None
    ) -> None:
        await handlers.run(interaction, f"access {state.value}" if state else "access")

    @app_commands.command(name="audit", description="Latest settings and access changes (admins)")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def audit(interaction: discord.Interaction[Any]) -> None:
        await handlers.run(interaction, "audit")

    @app_commands.command(name="forget", description="Erase your messages and their answers")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def forget(interaction: discord.Interaction[Any]) -> None:
        handlers.track()
        await own_data.forget(handlers.engine, interaction)

    @app_commands.command(name="export", description="Your messages and their answers, as a file")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    async def export(interaction: discord.Interaction[Any]) -> None:
        handlers.track()
        await own_data.export(handlers.engine, interaction)

    return [access, audit, forget, export]


def _settings(handlers: SlashCommands) -> app_commands.Group:
    group = app_commands.Group(
        name="settings",
        description="Model settings for this channel",
        allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
    )

    @group.command(name="show", description="Show the model settings used here")
    async def show(interaction: discord.Interaction[Any]) -> None:
        await handlers.run(interaction, "settings show")

    @group.command(name="set", description="Change a setting for this channel (admins)")
    @app_commands.describe(name="Setting to change", value="New value, or 'default' to clear it")
    @app_commands.choices(name=SETTING_CHOICES)
    async def set_(
        interaction: discord.Interaction[Any],
        name: app_commands.Choice[str],
        value: app_commands.Range[str, 1, 4000],
    ) -> None:
        await handlers.run(interaction, f"settings set {name.value} {value}")

    return group
